"""Dataset manifests: the frozen lists of labelled photos that training and testing read.

Their format is defined here, in core, because two parts touch them: retraining freezes them
(``retraining.datasets``) and forgetting a person redacts them. Layout::

    datasets/train/<version>/manifest.json     examples, counts per label
    datasets/train/<version>/selection.json    every candidate curation weighed, and why
    datasets/test/<version>/manifest.json

Every read leaves out photos in the forget record, and every write is followed by a
redaction (``redact``): /forget records its photos first and then redacts what it lists, so a
version frozen at the same moment is redacted by one side or the other.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from core.errors import ObjectNotFound
from core.forgotten import ForgetRecord
from core.labels import VALID_LABELS
from core.storage import ImageStore

Kind = Literal["train", "test"]
PREFIX = "datasets"
_FILES = ("manifest.json", "selection.json")


@dataclass(frozen=True)
class Example:
    """One labelled photo in a manifest."""

    image_id: str
    label: str
    source: str  # feedback, admin, consensus, weak:unsplash, weak:pexels
    weight: float
    split: Kind
    added_in: str = ""
    score: float | None = None


@dataclass(frozen=True)
class Manifest:
    """A frozen dataset version."""

    version: str
    kind: Kind
    parent: str | None
    created_at: str
    examples: list[Example] = field(default_factory=list)

    def ids(self) -> set[str]:
        """Return the image ids it holds."""
        return {e.image_id for e in self.examples}

    def counts(self) -> dict[str, int]:
        """Return examples per label, in label order."""
        found = Counter(e.label for e in self.examples)
        return {label: found[label] for label in VALID_LABELS if found[label]}

    def to_json(self) -> bytes:
        """Serialise for the store."""
        body = {**asdict(self), "counts": self.counts()}
        return json.dumps(body, indent=1, sort_keys=True).encode()


def manifest_key(kind: Kind, version: str) -> str:
    """Return the store key of a version's manifest."""
    return f"{PREFIX}/{kind}/{version}/manifest.json"


def selection_key(version: str) -> str:
    """Return the store key of the curation log of a training version."""
    return f"{PREFIX}/train/{version}/selection.json"


def load(store: ImageStore, key: str) -> Manifest:
    """Read a manifest from the store, without the photos forgotten since it was frozen."""
    body = json.loads(store.get(key))
    examples = [Example(**item) for item in body.pop("examples")]
    forgotten = ForgetRecord(store).forgotten_among(e.image_id for e in examples)
    body.pop("counts", None)
    return Manifest(**body, examples=[e for e in examples if e.image_id not in forgotten])


def load_version(store: ImageStore, kind: Kind, version: str) -> Manifest:
    """Read a version by name; raise ObjectNotFound when it was never frozen."""
    try:
        return load(store, manifest_key(kind, version))
    except ObjectNotFound as exc:
        raise ObjectNotFound(f"no {kind} dataset version {version!r}") from exc


def redact(store: ImageStore, key: str, forgotten: set[str] | None = None) -> int:
    """Drop forgotten photos from one manifest or selection file; return how many went.

    ``forgotten`` defaults to what the record holds for the file's photos.
    """
    try:
        body: Any = json.loads(store.get(key))
    except ObjectNotFound:
        return 0
    items: list[dict[str, Any]] = body["examples"] if isinstance(body, dict) else body
    if forgotten is None:
        forgotten = ForgetRecord(store).forgotten_among(str(i["image_id"]) for i in items)
    kept = [item for item in items if item["image_id"] not in forgotten]
    if len(kept) == len(items):
        return 0
    if isinstance(body, dict):
        fields = {name: value for name, value in body.items() if name not in ("examples", "counts")}
        data = Manifest(**fields, examples=[Example(**item) for item in kept]).to_json()
    else:
        data = json.dumps(kept, indent=1).encode()
    store.put(key, data, "application/json")
    return len(items) - len(kept)


def redact_all(store: ImageStore, forgotten: set[str]) -> int:
    """Drop ``forgotten`` photos from every manifest and selection file; return how many went."""
    keys = [key for key in store.list(PREFIX + "/") if key.endswith(_FILES)]
    return sum(redact(store, key, forgotten) for key in keys)
