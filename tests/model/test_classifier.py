"""Taxonomy and head arithmetic, preprocessing and metrics, without a real backbone."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.labels import LABEL_INDEX, imagenet_to_label
from core.model import preprocess
from core.model.classifier import (
    LOG_PROB_FLOOR,
    Head,
    ModelClassifier,
    compute_features,
    taxonomy_log_probs,
)
from core.model.metrics import score
from tests.model.test_registry import FakeEngine


def test_taxonomy_sums_imagenet_probabilities_per_label() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 1000)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = np.zeros((4, 16))
    for imagenet, label in enumerate(imagenet_to_label()):
        expected[:, label] += probabilities[:, imagenet]
    got = np.exp(taxonomy_log_probs(logits))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert got[:, LABEL_INDEX["giraffe"]].max() == 0.0


def test_features_are_what_the_head_sees() -> None:
    images = [Image.new("RGB", (64, 48), (i * 40, 0, 0)) for i in range(5)]
    features = compute_features(FakeEngine(), images, batch_size=2)
    assert features.embeddings.shape == (5, 1280)
    assert features.taxonomy_log_probs.shape == (5, 16)
    assert features.taxonomy_log_probs.min() >= LOG_PROB_FLOOR
    assert np.isfinite(features.head_inputs()).all()
    rng = np.random.default_rng(1)
    head = Head(rng.normal(size=(1296, 16)).astype(np.float32), np.zeros(16, np.float32))
    classifier = ModelClassifier("v9", FakeEngine(), head)
    scores = features.head_inputs().astype(np.float64) @ head.weights + head.bias
    expected = np.exp(scores - scores.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    got = [p.probabilities for p in classifier.predict(images)]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_predictions_are_sorted_top3() -> None:
    (prediction,) = ModelClassifier("v0", FakeEngine()).predict([Image.new("RGB", (9, 9))])
    assert prediction.label == "dog"
    probs = [p for _, p in prediction.top3]
    assert probs == sorted(probs, reverse=True)
    assert sum(prediction.probabilities) == pytest.approx(1.0)


def jpeg(size: tuple[int, int], orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))  # left half blue
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def test_large_jpeg_is_decoded_in_draft_mode_but_keeps_enough_pixels() -> None:
    image = preprocess.decode(jpeg((4000, 3000)))
    assert min(image.size) >= preprocess.RESIZE_SHORT
    assert image.size[0] < 4000  # decoded at a reduced scale
    assert preprocess.to_input(image).shape == (224, 224, 3)


def test_exif_orientation_is_applied() -> None:
    upright = preprocess.bytes_to_input(jpeg((400, 300)))
    rotated = preprocess.bytes_to_input(jpeg((400, 300), orientation=6))
    assert upright[112, 20, 2] > 150  # blue on the left
    assert rotated[20, 112, 2] > 150  # rotated 90 degrees: blue on top
    assert rotated[200, 112, 0] > 150


def test_tiny_photos_are_upscaled() -> None:
    assert preprocess.to_input(Image.new("RGB", (32, 32))).shape == (224, 224, 3)


def test_metrics() -> None:
    scores = score(["dog", "dog", "cat", "cat"], ["dog", "cat", "cat", "cat"])
    assert scores.accuracy == 0.75
    assert scores.per_label["dog"] == 0.5
    assert scores.per_label["cat"] == 1.0
    assert scores.per_label["zebra"] is None
    assert scores.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert scores.confusion[LABEL_INDEX["dog"], LABEL_INDEX["cat"]] == 1
