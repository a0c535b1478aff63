"""Image intake: every photo, from any channel, enters through ``intake``.

Intake validates (type, byte size, pixel count, truncation), applies EXIF orientation,
converts to RGB, gives the bytes to store (without metadata: ``core.image_metadata``) and
computes the hashes used for duplicate detection: sha256 of the stored bytes for exact
duplicates and a 64-bit DCT perceptual hash for near ones.

Memory is bounded whatever the file: nothing reads more than a short side of
``WORKING_SIDE`` (the model reads 256 pixels, the perceptual hash 32), so JPEGs decode at
reduced scale (draft) and other formats are reduced right after decoding, before any
conversion; alpha is flattened on the small copy. A file whose full decode would need more
than ``DECODE_BUDGET_BYTES`` is refused before decoding, and at most ``CONCURRENT_DECODES``
decodes run at once per process. The arithmetic: the smallest deployed component (the bot,
1 GiB on Cloud Run) then spends at most 2 x 100 MB on photos at any moment (80 MiB of
pixels plus the decoder's own buffers and the small copies), and the server
(4 GiB, 40 concurrent requests) the same, whatever is sent.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core import image_metadata
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
WORKING_SIDE = 512
DECODE_BUDGET_BYTES = 80 * 1024 * 1024
CONCURRENT_DECODES = 2
_DECODES = threading.BoundedSemaphore(CONCURRENT_DECODES)
# Bytes per pixel Pillow keeps in memory (bands beyond one are stored 4 bytes wide).
_NARROW_MODES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Modes Image.reduce cannot take: converted at full size first (a second full-size copy).
_CONVERT_FIRST = {"1": "L", "P": "RGBA", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}
# Modes with alpha, which Image.reduce would copy whole (premultiplied): reduced band by band.
_ALPHA_MODES = {"RGBA", "LA", "La", "RGBa", "PA"}


@dataclass(frozen=True)
class IntakeImage:
    """A validated photo: the bytes to store, an RGB picture and its hashes."""

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
    for_storage: bool = True,
) -> IntakeImage:
    """Validate and decode ``data``; raise an ImageRejected subclass when it is not usable.

    ``draft_size`` lets JPEG decoding skip detail below that size (Pillow's draft mode), which
    keeps large photos cheap when only a small version is needed. Without ``for_storage``
    (reading a photo already stored) ``data`` stays as given.
    """
    if not data:
        raise EmptyImage("no bytes")
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"{len(data)} bytes > {max_bytes}",
            user_message=f"That file is too large (limit {max_bytes // (1024 * 1024)} MB).",
        )
    image, fmt = _open(data, max_pixels)
    width, height = image.size
    if for_storage:
        data, turned_upright = _storable(data, image, fmt)
        if turned_upright:  # the stored copy is upright and tagless: read that one
            image, _ = _open(data, max_pixels)
            width, height = image.size
    image, turned = _decode(image, draft_size or WORKING_SIDE)
    if turned:
        width, height = height, width
    return IntakeImage(
        data=data,
        image=image,
        format=fmt,
        content_type=ACCEPTED_FORMATS[fmt],
        width=width,
        height=height,
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


def _storable(data: bytes, image: Image.Image, fmt: str) -> tuple[bytes, bool]:
    """Return the bytes to store and whether they were re-encoded upright.

    Stripping keeps the compressed data, so ``image`` (opened, not loaded) still reads them.
    """
    if image_metadata.orientation(image, data) == 1:
        return image_metadata.strip(data, fmt), False
    if fmt == "JPEG":
        image.draft("RGB", (image_metadata.UPRIGHT_SIDE,) * 2)
    _check_budget(image)
    try:
        with _DECODES, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)
            image.load()
            turned = ImageOps.exif_transpose(_reduced(image, image_metadata.UPRIGHT_SIDE))
            stored = image_metadata.encode(turned, fmt, image.info.get("icc_profile"))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise TruncatedImage(str(exc)) from exc
    return stored, True


def _decode(image: Image.Image, side: int) -> tuple[Image.Image, bool]:
    """Decode an upright RGB working copy with a short side of about ``side``.

    It is at least ``side`` when the photo has it. Also say whether the EXIF orientation
    swapped width and height.
    """
    if image.format == "JPEG":
        image.draft("RGB", (side, side))  # decode at 1/2, 1/4 or 1/8 scale when that suffices
    _check_budget(image)
    try:
        with _DECODES, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)  # the first frame of an animation
            image.load()
            oriented = _reduced(image, side)
            size = oriented.size
            ImageOps.exif_transpose(oriented, in_place=True)  # ours: no copy when upright
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise TruncatedImage(str(exc)) from exc
    turned = oriented.size != size
    if oriented.mode != "RGB":
        oriented = _to_rgb(oriented)
    return oriented, turned


def _check_budget(image: Image.Image) -> None:
    width, height = image.size
    per_pixel = _NARROW_MODES.get(image.mode, 4)
    if image.mode in _CONVERT_FIRST:
        per_pixel += 4
    if image.mode in _ALPHA_MODES or image.mode == "P":
        per_pixel += 1  # one band at a time
    if width * height * per_pixel > DECODE_BUDGET_BYTES:
        raise TooManyPixels(
            f"{width}x{height} {image.mode} needs {width * height * per_pixel} bytes to decode",
            user_message=f"That image is too big to read ({width}x{height} pixels).",
        )


def _reduced(image: Image.Image, side: int) -> Image.Image:
    """A copy reduced by a whole factor to a short side of at least ``side``."""
    factor = min(image.size) // side
    if factor < 2:
        return image
    if image.mode in _CONVERT_FIRST:
        mode = _CONVERT_FIRST[image.mode]
        if mode == "RGBA" and "transparency" not in image.info:
            mode = "RGB"
        image = image.convert(mode)
    if image.mode in _ALPHA_MODES:
        bands = [image.getchannel(band).reduce(factor) for band in range(len(image.getbands()))]
        return Image.merge(image.mode, bands)
    return image.reduce(factor)


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
    """Return a 64-bit DCT perceptual hash as 16 hex digits.

    The grey copy is first box-reduced by a whole factor to at least twice the hash side
    (``reducing_gap``), then Lanczos-filtered: a quarter of the CPU of Lanczos all the way,
    and on the development photos the same hash or one 2 bits away (near duplicates are 6).
    """
    grey = image.convert("L")
    small = grey.resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    pixels = np.asarray(small, dtype=np.float64)
    coefficients = (_DCT @ pixels @ _DCT.T)[:_HASH_KEEP, :_HASH_KEEP].flatten()
    bits = coefficients > np.median(coefficients[1:])
    return np.packbits(bits).tobytes().hex()  # the first coefficient is the highest bit


def hash_distance(first: str, second: str) -> int:
    """Count differing bits between two perceptual hashes."""
    return (int(first, 16) ^ int(second, 16)).bit_count()
