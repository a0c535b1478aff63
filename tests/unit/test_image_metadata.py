"""Stored photos carry no EXIF, GPS, XMP or comments, and their pixels are the ones sent."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from core.images import intake
from core.model.preprocess import decode
from tests.conftest import real_photo_paths

SECRETS = (b"SecretCam", b"serial 0042", b"my holiday", b"ns.adobe.com/xap", b"GPS")


def picture(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """An asymmetric picture, so a wrong turn shows."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:, : size[0] // 3] = (220, 30, 30)
    pixels[: size[1] // 4, :, 1] = 200
    return Image.fromarray(pixels)


def exif(orientation: int = 1) -> Image.Exif:
    tags = Image.Exif()
    tags[0x0112] = orientation
    tags[0x010F] = "SecretCam"
    tags[0xA431] = "serial 0042"
    gps = tags.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    return tags


def encoded(fmt: str, tags: Image.Exif, **options: object) -> bytes:
    out = io.BytesIO()
    picture().save(out, format=fmt, exif=tags, **options)
    return out.getvalue()


def with_xmp_and_trailer(jpeg: bytes) -> bytes:
    """Add an XMP segment after SOI and a second picture after the end (as phones do)."""
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>GPS my holiday</x:xmpmeta>"
    segment = b"\xff\xe1" + (len(xmp) + 2).to_bytes(2, "big") + xmp
    return jpeg[:2] + segment + jpeg[2:] + encoded("JPEG", exif())


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def assert_clean(data: bytes) -> None:
    assert not [s for s in SECRETS if s in data]
    reopened = Image.open(io.BytesIO(data))
    assert dict(reopened.getexif()) == {}
    assert "exif" not in reopened.info and "comment" not in reopened.info


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_metadata_is_cut_out_and_the_pixels_are_untouched(progressive: bool) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    sent = encoded("JPEG", exif(), comment=b"my holiday", icc_profile=srgb,
                   progressive=progressive)  # fmt: skip
    sent = with_xmp_and_trailer(sent)
    stored = intake(sent).data
    assert_clean(stored)
    assert np.array_equal(pixels(stored), pixels(sent))  # lossless: same compressed data
    assert Image.open(io.BytesIO(stored)).info.get("icc_profile") == srgb  # colour stays
    assert stored.endswith(b"\xff\xd9") and len(stored) < len(sent)


def test_a_photo_that_must_be_turned_is_stored_upright_without_its_tags() -> None:
    sent = encoded("JPEG", exif(orientation=6), quality=95)
    photo = intake(sent)
    assert_clean(photo.data)
    upright = pixels(photo.data)
    assert upright.shape[:2] == (96, 64) and (photo.width, photo.height) == (64, 96)
    expected = np.asarray(picture().transpose(Image.Transpose.ROTATE_270))
    assert np.abs(upright.astype(int) - expected).mean() < 4  # one JPEG generation away
    assert np.array_equal(np.asarray(decode(photo.data)), np.asarray(photo.image))


def test_png_and_webp_lose_their_exif_xmp_and_text() -> None:
    png = encoded("PNG", exif(), pnginfo=_png_text())
    webp = encoded("WEBP", exif(), lossless=True, xmp=b"<x:xmpmeta>GPS my holiday</x:xmpmeta>")
    for sent in (png, webp):
        assert any(s in sent for s in SECRETS)
        stored = intake(sent).data
        assert_clean(stored)
        assert np.array_equal(pixels(stored), pixels(sent))


def _png_text() -> object:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "my holiday")
    info.add_itxt("Location", "GPS 51.5 N")
    return info


def test_the_same_picture_with_other_metadata_is_the_same_photo() -> None:
    first = intake(encoded("JPEG", exif(), comment=b"my holiday")).sha256
    second = intake(encoded("JPEG", Image.Exif())).sha256
    assert first == second
    assert first == hashlib.sha256(intake(encoded("JPEG", Image.Exif())).data).hexdigest()


@pytest.mark.datasets
def test_real_photos_keep_their_pixels(animals_dev: Path) -> None:
    paths = real_photo_paths(limit=80)
    assert paths, "no reference photos"
    for path in paths:
        sent = path.read_bytes()
        photo = intake(sent)
        if Image.open(io.BytesIO(sent)).getexif().get(0x0112, 1) == 1:
            assert np.array_equal(pixels(photo.data), pixels(sent)), path.name
        assert b"Exif\x00\x00" not in photo.data, path.name


def test_a_turned_png_is_found_without_decoding_it_and_stored_upright() -> None:
    sent = encoded("PNG", exif(orientation=6))
    photo = intake(sent)
    assert_clean(photo.data)
    expected = np.asarray(picture().transpose(Image.Transpose.ROTATE_270))
    assert np.array_equal(pixels(photo.data), expected)  # PNG: lossless even when turned
