"""Image intake: every photo, from any channel, enters through ``intake``.

Intake validates (type, byte size, pixel count, truncation), applies EXIF orientation,
converts to RGB and computes the hashes used for duplicate detection: sha256 of the bytes
for exact duplicates and a 64-bit DCT perceptual hash for near ones.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import (
    EmptyImage,
    ImageTooLarge,
    NotAnImage,
    TooManyPixels,
    TruncatedImage,
    UnsupportedImageFormat,
)

ACCEPTED_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
_HASH_SIDE = 32
_HASH_KEEP = 8


@dataclass(frozen=True)
class IntakeImage:
    """A validated photo: its original bytes, an RGB picture and its hashes."""

    data: bytes
    image: Image.Image
    format: str
    content_type: str
    width: int
    height: int
    sha256: str
    phash: str

    @property
    def extension(self) -> str:
        """File extension matching the original format."""
        return {"JPEG": "jpg"}.get(self.format, self.format.lower())


def intake(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
) -> IntakeImage:
    """Validate and decode ``data``; raise an ImageRejected subclass when it is not usable.

    ``draft_size`` lets JPEG decoding skip detail below that size (Pillow's draft mode), which
    keeps large photos cheap when only a small version is needed.
    """
    if not data:
        raise EmptyImage("no bytes")
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"{len(data)} bytes > {max_bytes}",
            user_message=f"That file is too large (limit {max_bytes // (1024 * 1024)} MB).",
        )
    image, fmt = _open(data, max_pixels)
    image = _decode(image, draft_size)
    return IntakeImage(
        data=data,
        image=image,
        format=fmt,
        content_type=ACCEPTED_FORMATS[fmt],
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=perceptual_hash(image),
    )


def _open(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    try:
        with warnings.catch_warnings():
            # Pillow warns before its own bomb limit; we apply ours just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise NotAnImage(str(exc)) from exc
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise TruncatedImage(str(exc)) from exc
    fmt = image.format or ""
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedImageFormat(f"format {fmt!r}")
    width, height = image.size
    if width * height > max_pixels:
        raise TooManyPixels(
            f"{width}x{height} > {max_pixels} pixels",
            user_message=f"That image is too big ({width}x{height} pixels).",
        )
    if width == 0 or height == 0:
        raise TruncatedImage("zero-sized image")
    return image, fmt


def _decode(image: Image.Image, draft_size: int | None) -> Image.Image:
    if draft_size is not None and image.format == "JPEG":
        image.draft("RGB", (draft_size, draft_size))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)  # the first frame of an animation
            image.load()
            oriented = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise TruncatedImage(str(exc)) from exc
    if oriented.mode != "RGB":
        oriented = _to_rgb(oriented)
    return oriented


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, as a viewer would show them.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    result: np.ndarray = matrix
    return result


_DCT = _dct_matrix(_HASH_SIDE)


def perceptual_hash(image: Image.Image) -> str:
    """Return a 64-bit DCT perceptual hash as 16 hex digits."""
    small = image.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.float64)
    coefficients = (_DCT @ pixels @ _DCT.T)[:_HASH_KEEP, :_HASH_KEEP].flatten()
    bits = coefficients > np.median(coefficients[1:])
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hash_distance(first: str, second: str) -> int:
    """Count differing bits between two perceptual hashes."""
    return (int(first, 16) ^ int(second, 16)).bit_count()
