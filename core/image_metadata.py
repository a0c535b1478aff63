"""What a stored photo keeps: its pixels and colour profile, never its EXIF (GPS), XMP or text.

Photos are stored as sent, minus metadata, so a camera's location, serial number or an
editor's comments never reach the store. Stripping is lossless: JPEG segments, PNG chunks and
WebP chunks that carry metadata are cut out of the file and the compressed image data is
copied untouched. JPEG keeps JFIF, its ICC profile and Adobe's colour-transform segment, and
loses anything after the end of the image (the extra pictures of the multi-picture format,
which carry EXIF of their own). GIF has no EXIF and is stored as it is.

A photo that must be turned upright (EXIF orientation other than 1) cannot keep its orientation
tag, so intake turns it and re-encodes it (``encode``) at most ``UPRIGHT_SIDE`` pixels on its
short side, far more than the model or a person looking at it needs.
"""

from __future__ import annotations

import io
import struct

from PIL import Image

from core.errors import TruncatedImage

UPRIGHT_SIDE = 2048
_ORIENTATION = 0x0112
_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF/JFXX, Adobe; APP2 is kept only for ICC profiles
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_WEBP_DROP = {b"EXIF", b"XMP "}
_VP8X_METADATA_FLAGS = 0x08 | 0x04  # EXIF, XMP


def orientation(image: Image.Image, data: bytes) -> int:
    """Return the EXIF orientation of an opened image (1, upright, when it has none).

    Nothing is decoded: Pillow would decode a whole PNG to look for its EXIF after the image
    data, so a PNG's chunks are walked here instead.
    """
    try:
        if image.format == "PNG":
            tags = Image.Exif()
            raw = _png_chunk(data, b"eXIf")
            if raw:
                tags.load(raw)
        else:
            tags = image.getexif()
        value = tags.get(_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, struct.error):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _png_chunk(data: bytes, wanted: bytes) -> bytes | None:
    at = 8
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == wanted:
            return data[at + 8 : at + 8 + length]
        if kind == b"IEND":
            return None
        at += 12 + length
    return None


def strip(data: bytes, fmt: str) -> bytes:
    """Return ``data`` without its metadata; the image data itself is copied untouched."""
    try:
        if fmt == "JPEG":
            return _strip_jpeg(data)
        if fmt == "PNG":
            return _strip_png(data)
        if fmt == "WEBP":
            return _strip_webp(data)
    except (IndexError, struct.error) as exc:
        raise TruncatedImage(f"malformed {fmt} structure: {exc}") from exc
    return data


def encode(image: Image.Image, fmt: str, icc_profile: bytes | None = None) -> bytes:
    """Encode a decoded picture (one turned upright) in ``fmt``, with no metadata but colour."""
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    if fmt == "GIF":
        fmt = "PNG"  # not reached: GIF has no EXIF orientation
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 92} if fmt in ("JPEG", "WEBP") else {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _strip_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise TruncatedImage("no JPEG start marker")
    out = bytearray(b"\xff\xd8")
    at = 2
    while at < len(data):
        if data[at] != 0xFF:
            raise TruncatedImage(f"JPEG marker expected at byte {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:  # end of image: anything after it is dropped
            out += b"\xff\xd9"
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += data[at : at + 2]
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        segment = data[at : at + 2 + length]
        if len(segment) < 2 + length:
            raise TruncatedImage("JPEG segment runs past the end")
        at += 2 + length
        if _keeps(marker, segment[4:16]):
            out += segment
        if marker == 0xDA:  # start of scan: copy the entropy-coded data up to the next marker
            end = _scan_end(data, at)
            out += data[at:end]
            at = end
    return bytes(out)  # no end marker: kept as truncated as it came (Pillow decodes those)


def _keeps(marker: int, head: bytes) -> bool:
    if marker == 0xFE:  # comment
        return False
    if 0xE0 <= marker <= 0xEF:
        return marker in _JPEG_KEEP_APP or (marker == 0xE2 and head.startswith(b"ICC_PROFILE"))
    return True


def _scan_end(data: bytes, at: int) -> int:
    """Return where the entropy-coded data starting at ``at`` ends (its next real marker)."""
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            return len(data)
        following = data[at + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            at += 1  # stuffed byte, restart marker or fill: still inside the scan
            continue
        return at


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    at = 8
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if kind not in _PNG_DROP:
            out += data[at:end]
        at = end
        if kind == b"IEND":
            break
    return bytes(out)


def _strip_webp(data: bytes) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise TruncatedImage("no RIFF WEBP header")
    chunks = bytearray()
    at = 12
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        (size,) = struct.unpack("<I", data[at + 4 : at + 8])
        end = at + 8 + size + (size & 1)
        chunk = bytearray(data[at:end])
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~_VP8X_METADATA_FLAGS & 0xFF
        if kind not in _WEBP_DROP:
            chunks += chunk
        at = end
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + bytes(chunks)
