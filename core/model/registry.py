"""The model registry: immutable versions on the ImageStore and a ``production`` pointer.

Layout under ``models/``::

    models/<version>/model.json     kind (taxonomy | head), backbone id, head file name
    models/<version>/head.npz       W (1296, 16) and b (16,)   (head versions only)
    models/<version>/labels.json    the label order the version was built for
    models/<version>/metrics.json   evaluation figures
    models/<version>/lineage.json   parent_version, dataset_version, code_version, created_at
    models/<version>/manifest.json  sha256 of every file above, written last
    models/<version>/calibration.json  temperature and thresholds, refitted on each round's
                                    test set (``core.model.calibration``); not in the manifest
    models/production.json          {"version", "previous": [...], "updated_at"}
    models/staging.json             {"version", "updated_at"}: served in shadow, never shown

A version exists once its manifest exists; until then it is a partial write and is ignored.
The pointer is one small object, so moving it is one atomic write. Every file is checked
against the manifest before a version is promoted or loaded; a bad one raises
ModelArtifactError and nothing moves.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np

from core.errors import ModelArtifactError, ObjectNotFound, ProductionMoved
from core.labels import VALID_LABELS
from core.model.calibration import Calibration
from core.model.classifier import Head, ModelClassifier
from core.model.pointers import Pointer
from core.model.runtime import Engine
from core.storage.base import ImageStore

log = logging.getLogger(__name__)
PREFIX = "models"
POINTER = f"{PREFIX}/production.json"
STAGING_POINTER = f"{PREFIX}/staging.json"
TAXONOMY_VERSION = "v0"
KINDS = ("taxonomy", "head")
_HEAD_FILE = "head.npz"
_MANIFEST = "manifest.json"
_CALIBRATION = "calibration.json"
_CLAIM = "claim.json"
_NAME_ATTEMPTS = 20


class VersionExists(ModelArtifactError):
    """The version name is taken (versions are immutable)."""


_VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_POINTER_HISTORY = 20
_TAXONOMY_CREATED = "1970-01-01T00:00:00+00:00"  # a fixed value keeps v0's files identical
BUILT_IN = "builtin"


@dataclass(frozen=True)
class Lineage:
    """Where a version came from."""

    parent_version: str | None
    dataset_version: str | None
    code_version: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def created(self) -> str | None:
        """When a run created the version; None for model v0, which the code defines."""
        return None if self.code_version == BUILT_IN else self.created_at


@dataclass(frozen=True)
class ModelVersion:
    """A verified version's description (its files passed the manifest check)."""

    version: str
    kind: str
    backbone: str
    labels: list[str]
    metrics: dict[str, Any]
    lineage: Lineage
    head: Head | None = None


class ModelRegistry:
    """Versions and the production pointer on an ImageStore."""

    def __init__(self, store: ImageStore, backbone: str) -> None:
        self.store = store
        self.backbone = backbone
        self._production = Pointer(store, POINTER)
        self._staging = Pointer(store, STAGING_POINTER)

    def versions(self) -> list[str]:
        """Return complete versions (those with a manifest), oldest first."""
        found = set()
        for key in self.store.list(f"{PREFIX}/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == _MANIFEST:
                found.add(parts[1])
        return sorted(found, key=_version_order)

    def get(self, version: str) -> ModelVersion:
        """Read and verify a version; raise ModelArtifactError when corrupt or partial."""
        files = self._verified_files(version)
        model = _json(files["model.json"], version, "model.json")
        labels = _json(files["labels.json"], version, "labels.json")
        if not isinstance(model, dict) or labels != list(VALID_LABELS):
            raise ModelArtifactError(f"{version}: model.json or labels.json does not fit")
        kind = model.get("kind")
        if kind not in KINDS:
            raise ModelArtifactError(f"{version}: unknown kind {kind!r}")
        head = _read_head(files, version) if kind == "head" else None
        try:
            lineage = Lineage(**_json(files["lineage.json"], version, "lineage.json"))
        except TypeError as exc:
            raise ModelArtifactError(f"{version}: bad lineage.json: {exc}") from exc
        return ModelVersion(
            version=version,
            kind=kind,
            backbone=str(model.get("backbone", "")),
            labels=list(labels),
            metrics=_json(files["metrics.json"], version, "metrics.json"),
            lineage=lineage,
            head=head,
        )

    def save_head(
        self,
        head: Head,
        *,
        metrics: dict[str, Any],
        lineage: Lineage,
        version: str | None = None,
    ) -> str:
        """Store a trained head as a new immutable version (not promoted); return its name.

        Without a ``version`` it takes the next free number, even when another round takes
        the same one at the same moment.
        """
        buffer = io.BytesIO()
        np.savez(buffer, weights=head.weights.astype(np.float32), bias=head.bias.astype(np.float32))
        files = {_HEAD_FILE: buffer.getvalue()}
        if version is not None:
            return self._save("head", files, metrics, lineage, version)
        for _ in range(_NAME_ATTEMPTS):
            try:
                return self._save("head", files, metrics, lineage, self.next_version())
            except VersionExists:
                continue  # another writer claimed that number first
        raise ModelArtifactError("could not claim a new version name")

    def ensure_taxonomy(self) -> str:
        """Create model v0 if it is missing and point production at it if nothing is; return v0."""
        if not self.store.exists(_key(TAXONOMY_VERSION, _MANIFEST)):
            # v0 is defined by the code, not by a run: its files are byte-identical whoever
            # writes them, so processes that start together on an empty store cannot mix up
            # each other's files and manifest.
            lineage = Lineage(None, None, code_version=BUILT_IN, created_at=_TAXONOMY_CREATED)
            self._save("taxonomy", {}, {}, lineage, TAXONOMY_VERSION, new=False)
        if self.production() is None:
            self.promote(TAXONOMY_VERSION)
        return TAXONOMY_VERSION

    def next_version(self) -> str:
        """Return ``v<n+1>`` after the highest numbered version, complete or only claimed."""
        names = {key.split("/")[1] for key in self.store.list(f"{PREFIX}/") if key.count("/") == 2}
        numbers = [int(v[1:]) for v in names if re.fullmatch(r"v\d+", v)]
        return f"v{max(numbers, default=0) + 1}"

    def production(self) -> str | None:
        """Return the version the pointer names, or None before anything was promoted."""
        return self._production.version()

    def promote(self, version: str, *, replacing: str | None = None) -> None:
        """Point production at ``version`` after verifying it; the old one becomes previous.

        With ``replacing``, only while production is still that version (the champion the
        challenger beat); otherwise raise ProductionMoved and leave the pointer alone.
        """
        self.get(version)

        def change(pointer: dict[str, Any] | None) -> dict[str, Any] | None:
            current = None if pointer is None else str(pointer["version"])
            if current == version:
                return None
            if replacing is not None and (current or TAXONOMY_VERSION) != replacing:
                raise ProductionMoved(
                    f"production is {current}, not {replacing}: {version} was not promoted"
                )
            history = [] if pointer is None else [current, *pointer.get("previous", [])]
            return {"version": version, "previous": history[:_POINTER_HISTORY]}

        self._production.move(change)

    def rollback(self) -> str:
        """Point production back at the previous production version; return it."""
        moved: list[str] = []

        def change(pointer: dict[str, Any] | None) -> dict[str, Any]:
            if pointer is None or not pointer.get("previous"):
                raise ModelArtifactError("no previous production version to roll back to")
            target, *rest = pointer["previous"]
            self.get(target)
            moved[:] = [str(target)]
            return {"version": target, "previous": rest}

        self._production.move(change)
        return moved[0]

    def staging(self) -> str | None:
        """Return the version staged for shadow serving, or None."""
        return self._staging.version()

    def stage(self, version: str) -> None:
        """Serve ``version`` in shadow beside production (after verifying it)."""
        self.get(version)
        self._staging.write(version)

    def unstage(self) -> None:
        """Stop serving the staged version in shadow."""
        self._staging.clear()

    def load(self, version: str, engine: Engine) -> ModelClassifier:
        """Build the classifier of a verified version on a backbone engine."""
        model = self.get(version)
        if model.kind == "head" and model.backbone != self.backbone:
            raise ModelArtifactError(
                f"{version} was trained on backbone {model.backbone}, not {self.backbone}; "
                "set CREATURE_VIS_MODEL__BACKBONE_SOURCE to match"
            )
        return ModelClassifier(version, engine, model.head,
                               calibration=self.calibration(version))  # fmt: skip

    def calibrate(self, version: str, calibration: Calibration) -> None:
        """Store the calibration a version serves with (servers pick it up on refresh)."""
        self.get(version)
        self.store.put(_key(version, _CALIBRATION), _dump(calibration.to_json()),
                       "application/json")  # fmt: skip

    def calibration(self, version: str) -> Calibration | None:
        """Return a version's calibration; None before one is fitted (or when unreadable)."""
        try:
            data = self.store.get(_key(version, _CALIBRATION))
        except ObjectNotFound:
            return None
        try:
            return Calibration.from_json(_json(data, version, _CALIBRATION))
        except (ValueError, ModelArtifactError) as exc:
            log.error("%s serves uncalibrated: %s", version, exc)
            return None

    def _save(
        self,
        kind: str,
        extra: dict[str, bytes],
        metrics: dict[str, Any],
        lineage: Lineage,
        version: str,
        *,
        new: bool = True,
    ) -> str:
        if not _VERSION_PATTERN.match(version) or version in ("production.json", "staging.json"):
            raise ValueError(f"bad version name {version!r}")
        model = {"kind": kind, "backbone": self.backbone, "format": 1}
        if kind == "head":
            model["head_file"] = _HEAD_FILE
        files = {
            "model.json": _dump(model),
            "labels.json": _dump(list(VALID_LABELS)),
            "metrics.json": _dump(metrics),
            "lineage.json": _dump(asdict(lineage)),
            **extra,
        }
        # One create claims the name: a second writer of it stops before touching a file.
        if new and not self.store.create(_key(version, _CLAIM), _dump({"claimed_at": _now()})):
            raise VersionExists(f"version {version} already exists; versions are immutable")
        for name, data in files.items():
            self.store.put(_key(version, name), data)
        manifest = {"version": version, "files": {n: _sha(d) for n, d in files.items()}}
        self.store.put(_key(version, _MANIFEST), _dump(manifest), "application/json")
        return version

    def _verified_files(self, version: str) -> dict[str, bytes]:
        if not _VERSION_PATTERN.match(version):
            raise ModelArtifactError(f"bad version name {version!r}")
        try:
            manifest = _json(self.store.get(_key(version, _MANIFEST)), version, _MANIFEST)
        except ObjectNotFound as exc:
            raise ModelArtifactError(f"{version} is missing or was never completed") from exc
        files: dict[str, bytes] = {}
        for name, digest in dict(manifest.get("files", {})).items():
            try:
                data = self.store.get(_key(version, name))
            except ObjectNotFound as exc:
                raise ModelArtifactError(f"{version}: {name} is missing") from exc
            if _sha(data) != digest:
                raise ModelArtifactError(f"{version}: {name} does not match its sha256")
            files[name] = data
        required = {"model.json", "labels.json", "metrics.json", "lineage.json"}
        if not required <= files.keys():
            raise ModelArtifactError(f"{version}: manifest lacks {sorted(required - files.keys())}")
        return files


def _read_head(files: dict[str, bytes], version: str) -> Head:
    if _HEAD_FILE not in files:
        raise ModelArtifactError(f"{version}: head version without {_HEAD_FILE}")
    try:
        with np.load(io.BytesIO(files[_HEAD_FILE]), allow_pickle=False) as arrays:
            return Head(weights=arrays["weights"], bias=arrays["bias"])
    except (OSError, KeyError, ValueError) as exc:
        raise ModelArtifactError(f"{version}: unreadable {_HEAD_FILE}: {exc}") from exc


def _key(version: str, name: str) -> str:
    return f"{PREFIX}/{version}/{name}"


def _dump(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def _json(data: bytes, version: str, name: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelArtifactError(f"{version}: {name} is not valid JSON") from exc


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _version_order(version: str) -> tuple[int, str]:
    match = re.fullmatch(r"v(\d+)", version)
    return (int(match.group(1)), "") if match else (1 << 30, version)


def code_version() -> str:
    """Return the installed creature-vis version, for lineage records."""
    try:
        return metadata.version("creature-vis")
    except metadata.PackageNotFoundError:
        return "unknown"
