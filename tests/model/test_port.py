"""The Keras port reproduces torchvision's MobileNetV2, and the serving runtimes reproduce it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.model.runtime import KerasEngine, open_engine
from core.settings import Settings
from tests.model.conftest import LabelledInputs

pytestmark = [pytest.mark.model, pytest.mark.datasets]

PORT_PHOTOS = 96  # spread over the 1000 classes
AGREEMENT_PHOTOS = 200


@pytest.fixture(scope="module")
def keras_logits(keras_backbone: Any, imagenet_inputs: LabelledInputs) -> np.ndarray:
    engine = KerasEngine(keras_backbone)
    parts = [engine.run(imagenet_inputs.inputs[i : i + 50])[1]
             for i in range(0, len(imagenet_inputs.inputs), 50)]  # fmt: skip
    return np.concatenate(parts)


def test_port_matches_plain_torch_on_real_photos(
    weights_path: Path, imagenet_inputs: LabelledInputs, keras_logits: np.ndarray
) -> None:
    from tests.model.torch_reference import reference_logits

    picks = np.linspace(0, len(imagenet_inputs.inputs) - 1, PORT_PHOTOS).astype(int)
    reference = reference_logits(str(weights_path), imagenet_inputs.inputs[picks])
    difference = float(np.abs(reference - keras_logits[picks]).max())
    print(f"max |logit difference| vs torch on {PORT_PHOTOS} photos: {difference:.2e}")
    assert difference <= 1e-4
    assert (reference.argmax(1) == keras_logits[picks].argmax(1)).all()


def test_port_imagenet_top1_on_sample_photos(
    imagenet_inputs: LabelledInputs, keras_logits: np.ndarray
) -> None:
    top1 = float((keras_logits.argmax(1) == imagenet_inputs.labels).mean())
    print(f"ImageNet top-1 on {len(imagenet_inputs.labels)} sample photos: {top1:.3f}")
    assert top1 >= 0.80


@pytest.mark.parametrize("runtime", ["litert", "onnx"])
def test_serving_runtime_agrees_with_keras(
    runtime: str,
    model_settings: Settings,
    imagenet_inputs: LabelledInputs,
    keras_logits: np.ndarray,
) -> None:
    engine = open_engine(model_settings, runtime)
    inputs = imagenet_inputs.inputs[:AGREEMENT_PHOTOS]
    embeddings, logits = engine.run(inputs[:32])
    assert embeddings.shape == (32, 1280)
    parts = [engine.run(inputs[i : i + 50])[1] for i in range(0, len(inputs), 50)]
    logits = np.concatenate(parts)
    agreement = float((logits.argmax(1) == keras_logits[:AGREEMENT_PHOTOS].argmax(1)).mean())
    difference = float(np.abs(logits - keras_logits[:AGREEMENT_PHOTOS]).max())
    print(f"{runtime}: top-1 agreement {agreement:.3f}, max |logit difference| {difference:.1e}")
    assert agreement >= 0.995
    assert difference < 1e-3
