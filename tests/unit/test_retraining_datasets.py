"""Dataset versions: frozen manifests with rows, and a fixed held-out test set."""

from __future__ import annotations

import json

import pytest

from core.settings import CurationSettings, Settings
from core.storage import open_store
from core.warehouse import open_warehouse
from retraining import datasets
from retraining.datasets import Example, SplitPolicy

TRUST = CurationSettings().min_test_trust


def examples(label: str, count: int, start: int = 0) -> list[Example]:
    return [Example(f"{label}-{n}", label, "trusted", 1.0, "train") for n in range(start, count)]


def test_held_out_split_is_fixed_and_capped_per_label() -> None:
    policy = SplitPolicy(test_fraction=0.3, test_per_label=10, min_test_trust=TRUST)
    train, test = datasets.split_new(examples("dog", 200), None, policy)
    assert len(test) == 10 and len(train) == 190
    _again_train, again_test = datasets.split_new(examples("dog", 200), None, policy)
    assert again_test == test  # a hash of the image id decides, not chance
    assert all(e.split == "test" for e in test)


def test_test_set_only_grows_for_labels_it_lacks(settings: Settings) -> None:
    store, warehouse = open_store(settings), open_warehouse(settings)
    policy = SplitPolicy(test_fraction=0.5, test_per_label=5, min_test_trust=TRUST)
    _, first = datasets.split_new(examples("dog", 40), None, policy)
    t1 = datasets.freeze(store, warehouse, "test", None, first)
    more = examples("dog", 80, start=40) + examples("giraffe", 40)
    _, second = datasets.split_new(more, t1, policy)
    assert {e.label for e in second} == {"giraffe"}
    t2 = datasets.freeze(store, warehouse, "test", t1, second)
    assert t2.parent == "t1" and t2.ids() >= t1.ids()
    assert t2.counts() == {"giraffe": 5, "dog": 5}


def test_freeze_writes_manifest_and_row_and_is_immutable(settings: Settings) -> None:
    store, warehouse = open_store(settings), open_warehouse(settings)
    d1 = datasets.freeze(store, warehouse, "train", None, examples("cat", 3))
    d2 = datasets.freeze(store, warehouse, "train", d1, examples("dog", 2))
    assert (d1.version, d2.version, d2.parent) == ("d1", "d2", "d1")
    assert [e.added_in for e in d2.examples] == ["d1"] * 3 + ["d2"] * 2
    body = json.loads(store.get("datasets/train/d2/manifest.json"))
    assert body["counts"] == {"dog": 2, "cat": 3}
    assert body["examples"][0]["image_id"] == "cat-0"
    assert {"image_id", "label", "source", "weight", "split"} <= body["examples"][0].keys()
    rows = warehouse.query("SELECT * FROM dataset_versions WHERE version = 'd2'")
    assert rows[0]["parent_version"] == "d1" and rows[0]["n_examples"] == 5
    assert json.loads(rows[0]["counts_json"]) == {"dog": 2, "cat": 3}
    assert datasets.latest(warehouse, store, "train") == d2
    assert datasets.load_version(store, "train", "d1") == d1
    store.delete("models/x")  # unrelated keys do not matter
    with pytest.raises(FileExistsError):
        store.put("datasets/train/d3/manifest.json", b"{}")
        datasets.freeze(store, warehouse, "train", d2, examples("dog", 1))


def test_doubtful_labels_never_judge_models() -> None:
    policy = SplitPolicy(test_fraction=1.0, test_per_label=100, min_test_trust=0.8)
    doubtful = [Example(f"d{n}", "cat", "feedback", 0.5, "train") for n in range(20)]
    train, test = datasets.split_new(doubtful, None, policy)
    assert test == [] and len(train) == 20


@pytest.mark.parametrize(
    ("source", "weight", "judges"),
    [("admin", 1.0, True), ("trusted", 0.95, True), ("trusted", 0.7, False),
     ("consensus", 1.0, False), ("feedback", 1.0, False), ("model", 1.0, False),
     ("weak:unsplash", 1.0, False)],
)  # fmt: skip
def test_only_admins_and_labels_two_established_people_gave_judge_models(
    source: str, weight: float, judges: bool
) -> None:
    policy = SplitPolicy(test_fraction=1.0, test_per_label=100, min_test_trust=0.8)
    example = Example("p", "cat", source, weight, "train")
    assert datasets.may_judge(example, policy) is judges
    train, test = datasets.split_new([example], None, policy)
    assert (len(test), len(train)) == ((1, 0) if judges else (0, 1))


def test_the_test_set_takes_its_share_among_the_labels_that_may_judge() -> None:
    policy = SplitPolicy(test_fraction=0.2, test_per_label=1000, min_test_trust=0.8)
    new = [Example(f"t{n}", "cat", "trusted", 0.99, "train") for n in range(250)]
    new += [Example(f"f{n}", "cat", "feedback", 0.99, "train") for n in range(750)]
    train, test = datasets.split_new(new, None, policy)
    assert all(e.source == "trusted" for e in test)
    assert 150 <= len(test) <= 250  # about a fifth of all 1,000, drawn among the 250
    assert len(train) + len(test) == 1000
