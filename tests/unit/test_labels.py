from core.labels import (
    LABEL_INDEX,
    VALID_LABELS,
    guess_phrase,
    imagenet_to_label,
    is_valid_label,
)


def test_labels_are_exactly_the_designed_set_in_order() -> None:
    assert list(VALID_LABELS) == [
        "dog", "cat", "horse", "elephant", "giraffe", "lion", "tiger", "bear",
        "zebra", "monkey", "bird", "fish", "rabbit", "deer", "snake", "other",
    ]  # fmt: skip
    assert LABEL_INDEX["other"] == 15


def test_imagenet_taxonomy_maps_known_classes() -> None:
    mapping = imagenet_to_label()
    assert len(mapping) == 1000
    expected = {0: "fish", 1: "fish", 7: "bird", 52: "snake", 101: "elephant", 151: "dog",
                268: "dog", 281: "cat", 291: "lion", 292: "tiger", 294: "bear", 330: "rabbit",
                339: "horse", 340: "zebra", 365: "monkey", 385: "elephant", 397: "fish",
                269: "other", 293: "other", 999: "other"}  # fmt: skip
    for index, label in expected.items():
        assert VALID_LABELS[mapping[index]] == label, index
    # ImageNet-1k has neither giraffes nor deer.
    assert LABEL_INDEX["giraffe"] not in mapping
    assert LABEL_INDEX["deer"] not in mapping


def test_is_valid_label() -> None:
    assert is_valid_label("zebra")
    assert not is_valid_label("Zebra")
    assert not is_valid_label("unicorn")


def test_a_guess_reads_as_a_sentence_and_other_is_not_an_animal() -> None:
    assert guess_phrase("dog") == "a dog"
    assert guess_phrase("elephant") == "an elephant"
    assert guess_phrase("other") == "none of the animals I know"
    assert all(guess_phrase(label) for label in VALID_LABELS)
