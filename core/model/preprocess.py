"""The one preprocessing path from a photo to the model's input, for serving and training.

Decoding goes through ``core.images.intake`` (validation, EXIF orientation, RGB) with JPEG
draft mode so a large photo is decoded at a reduced scale that still keeps its short side at
least ``RESIZE_SHORT`` pixels. The picture is then resized so that its short side is
``RESIZE_SHORT`` and centre-cropped to ``INPUT_SIZE`` (torchvision's ImageNet evaluation
recipe), done as one bilinear resize of the crop box. Normalisation happens inside the model.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from core.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, intake

INPUT_SIZE = 224
RESIZE_SHORT = 256
INPUT_SHAPE = (INPUT_SIZE, INPUT_SIZE, 3)
# Base64 characters of one packed input (uint8, 150,528 bytes).
PACKED_INPUT_CHARS = 4 * ((INPUT_SIZE * INPUT_SIZE * 3 + 2) // 3)


def decode(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode and validate photo bytes into an upright RGB picture, cheaply for large JPEGs."""
    return intake(
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        draft_size=RESIZE_SHORT,
        for_storage=False,
    ).image


def load(path: Path) -> Image.Image:
    """Read and decode a photo file."""
    return decode(path.read_bytes())


def to_input(image: Image.Image) -> np.ndarray:
    """Return the model input for one RGB picture: uint8 ``(224, 224, 3)``."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    # The centre square of side short * 224/256 becomes the 224x224 input.
    side = min(width, height) * INPUT_SIZE / RESIZE_SHORT
    left = (width - side) / 2
    top = (height - side) / 2
    box = (left, top, left + side, top + side)
    resized = image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR, box=box)
    return np.asarray(resized, dtype=np.uint8)


def to_batch(images: Sequence[Image.Image]) -> np.ndarray:
    """Return the model input for several pictures: float32 ``(N, 224, 224, 3)`` in 0-255."""
    batch = np.empty((len(images), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    for row, image in enumerate(images):
        batch[row] = to_input(image)
    return batch


def bytes_to_input(data: bytes) -> np.ndarray:
    """Decode photo bytes straight to one model input (uint8 ``(224, 224, 3)``)."""
    return to_input(decode(data))


def pack_input(array: np.ndarray) -> str:
    """Return one model input (uint8 ``(224, 224, 3)``) as base64 text for a task message."""
    if array.shape != INPUT_SHAPE or array.dtype != np.uint8:
        raise ValueError(f"a model input is uint8 {INPUT_SHAPE}, not {array.dtype} {array.shape}")
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def unpack_input(text: str) -> np.ndarray:
    """Return the model input ``pack_input`` packed; ValueError when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64: {exc}") from None
    if len(raw) != INPUT_SIZE * INPUT_SIZE * 3:
        raise ValueError(f"{len(raw)} bytes is not one {INPUT_SHAPE} input")
    return np.frombuffer(raw, dtype=np.uint8).reshape(INPUT_SHAPE)
