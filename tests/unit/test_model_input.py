"""The model input a bot sends with a classify task is the one the stored photo decodes to."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from bot.photos import check_photo
from core.model.preprocess import INPUT_SHAPE, bytes_to_input, pack_input, unpack_input
from core.schemas import ClassifyRequest
from core.settings import load_settings


def jpeg(size: tuple[int, int], orientation: int = 1, seed: int = 0) -> bytes:
    """A noisy JPEG (so every resampling difference shows), optionally with a rotation tag."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    tags = Image.Exif()
    tags[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90, exif=tags)
    return out.getvalue()


def test_packing_round_trips_exactly() -> None:
    array = np.random.default_rng(1).integers(0, 256, INPUT_SHAPE, dtype=np.uint8)
    assert np.array_equal(unpack_input(pack_input(array)), array)


@pytest.mark.parametrize(
    "array",
    [np.zeros((224, 224, 4), np.uint8), np.zeros(INPUT_SHAPE, np.float32)],
    ids=["four channels", "float"],
)
def test_only_a_uint8_input_is_packed(array: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        pack_input(array)


@pytest.mark.parametrize("text", ["not base64!", "AAAA", ""], ids=["alphabet", "short", "empty"])
def test_forged_pixels_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        unpack_input(text)


def test_a_classify_request_refuses_pixels_longer_than_one_input() -> None:
    one = pack_input(np.zeros(INPUT_SHAPE, np.uint8))
    ClassifyRequest(interaction_id="i" * 16, image_id="a" * 64, channel="telegram", pixels=one)
    with pytest.raises(ValidationError):
        ClassifyRequest(
            interaction_id="i" * 16, image_id="a" * 64, channel="telegram", pixels=one + "AAAA"
        )


@pytest.mark.parametrize(
    ("size", "orientation"),
    [((1600, 1200), 1), ((1200, 1600), 6), ((640, 480), 3), ((300, 260), 8)],
    ids=["large", "turned 90", "turned 180", "small turned 270"],
)
def test_the_bots_input_is_the_stored_photos_decoded_input(
    size: tuple[int, int], orientation: int
) -> None:
    checked = check_photo(load_settings(), jpeg(size, orientation))
    # What a worker or a retraining round computes from the stored bytes.
    assert np.array_equal(unpack_input(checked.pixels), bytes_to_input(checked.photo.data))


def test_the_same_holds_for_real_photos(animals_dev: Path) -> None:
    settings = load_settings()
    for path in sorted(animals_dev.glob("*/*.jpg"))[::50][:12]:
        checked = check_photo(settings, path.read_bytes())
        assert np.array_equal(unpack_input(checked.pixels), bytes_to_input(checked.photo.data))
