"""The fixed label set and the ImageNet taxonomy that maps onto it.

The model's output index is the position in ``VALID_LABELS``; changing the order breaks
every stored model, so the order is frozen here and nowhere else.
"""

from __future__ import annotations

VALID_LABELS: tuple[str, ...] = (
    "dog", "cat", "horse", "elephant", "giraffe", "lion", "tiger", "bear",
    "zebra", "monkey", "bird", "fish", "rabbit", "deer", "snake", "other",
)  # fmt: skip

LABEL_INDEX: dict[str, int] = {label: i for i, label in enumerate(VALID_LABELS)}

# Readable names for buttons and the web page.
DISPLAY_NAMES: dict[str, str] = {label: label.capitalize() for label in VALID_LABELS}
OTHER_PHRASE = "none of the animals I know"


def guess_phrase(label: str) -> str:
    """The label as the end of "I think this is ...": "a dog", "an elephant".

    "other" gets a phrase that does not pretend it is an animal called other.
    """
    if label == "other":
        return OTHER_PHRASE
    name = DISPLAY_NAMES[label].lower()
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


# ImageNet-1k class indices (standard sorted-WordNet-id order) per label, following the
# WordNet hierarchy. ImageNet-1k has no giraffe and no deer: those must be learnt.
_IMAGENET_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "fish": ((0, 6), (389, 397)),
    "bird": ((7, 24), (80, 100), (127, 146)),
    "snake": ((52, 68),),
    "elephant": ((101, 101), (385, 386)),
    "dog": ((151, 268),),
    "cat": ((281, 285),),
    "lion": ((291, 291),),
    "tiger": ((292, 292),),
    "bear": ((294, 297),),
    "rabbit": ((330, 332),),
    "horse": ((339, 339),),
    "zebra": ((340, 340),),
    "monkey": ((365, 384),),
}


def imagenet_to_label() -> list[int]:
    """Return, for each of the 1000 ImageNet classes, the index of the label it counts as."""
    mapping = [LABEL_INDEX["other"]] * 1000
    for label, ranges in _IMAGENET_RANGES.items():
        for first, last in ranges:
            for index in range(first, last + 1):
                mapping[index] = LABEL_INDEX[label]
    return mapping


def is_valid_label(value: str) -> bool:
    """Tell whether ``value`` is one of the 16 labels."""
    return value in LABEL_INDEX
