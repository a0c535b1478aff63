import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from core.errors import (
    EmptyImage,
    ImageTooLarge,
    NotAnImage,
    TooManyPixels,
    TruncatedImage,
    UnsupportedImageFormat,
)
from core.images import hash_distance, intake


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def scene(width: int = 120, height: int = 80, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    centre_y, centre_x = rng.uniform(0.3, 0.7) * height, rng.uniform(0.4, 0.9) * width
    shade = 60 + 120 * np.exp(-((y - centre_y) ** 2 + (x - centre_x) ** 2) / (0.1 * width**2))
    pixels = np.stack([shade, shade * 0.8, 200 - shade * 0.5], axis=-1)
    pixels[: height // 2, : width // 3] = (220, 20, 20)  # a red block top-left
    pixels += rng.uniform(0, 8, pixels.shape)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_accepted_formats_become_rgb(fmt: str) -> None:
    data = encode(scene(), fmt)
    photo = intake(data)
    assert photo.format == fmt
    assert photo.image.mode == "RGB"
    assert (photo.width, photo.height) == (120, 80)
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert len(photo.phash) == 16


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    photo = intake(encode(scene(120, 80), "JPEG", exif=exif))
    assert (photo.width, photo.height) == (80, 120)
    # The red block was top-left; after a clockwise turn it is top-right.
    top_right = np.asarray(photo.image)[5, -5]
    assert top_right[0] > 200 and top_right[1] < 80


def test_exif_orientation_is_applied_reading_a_photo_as_sent() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = intake(encode(scene(120, 80), "JPEG", exif=exif), for_storage=False)
    assert (photo.width, photo.height) == (80, 120) and photo.image.size == (80, 120)
    top_right = np.asarray(photo.image)[5, -5]
    assert top_right[0] > 200 and top_right[1] < 80


def test_first_frame_of_animated_gif() -> None:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("blue", "yellow")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    photo = intake(buffer.getvalue())
    red, _, blue = np.asarray(photo.image)[20, 20]
    assert blue > 200 and red < 50


def test_transparency_becomes_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    photo = intake(encode(image, "PNG"))
    assert tuple(np.asarray(photo.image)[5, 5]) == (255, 255, 255)


def test_not_an_image_is_refused_with_a_readable_message() -> None:
    with pytest.raises(NotAnImage) as caught:
        intake(b"%PDF-1.4 this is a document, not a photo")
    assert "not an image" in caught.value.user_message


def test_empty_file() -> None:
    with pytest.raises(EmptyImage) as caught:
        intake(b"")
    assert caught.value.user_message == "The file is empty."


def test_other_image_formats_are_refused() -> None:
    with pytest.raises(UnsupportedImageFormat) as caught:
        intake(encode(scene(), "BMP"))
    assert "JPEG, PNG, WebP or GIF" in caught.value.user_message


def test_truncated_jpeg_is_refused() -> None:
    data = encode(scene(400, 300), "JPEG")
    with pytest.raises(TruncatedImage) as caught:
        intake(data[: len(data) // 2])
    assert "damaged" in caught.value.user_message


def test_file_over_the_byte_limit_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        intake(b"\xff\xd8" + b"0" * 2048, max_bytes=1024)
    with pytest.raises(ImageTooLarge) as caught:
        intake(b"x" * (21 * 1024 * 1024))
    assert caught.value.user_message == "That file is too large (limit 20 MB)."


def test_decompression_bomb_is_refused_by_pixel_count() -> None:
    # Small files that decode to huge pictures: over our limit, and over Pillow's own.
    big = encode(Image.new("1", (8000, 6000)), "PNG")
    assert len(big) < 100_000
    with pytest.raises(TooManyPixels) as caught:
        intake(big, max_pixels=40_000_000)
    assert caught.value.user_message == "That image is too big (8000x6000 pixels)."
    bomb = encode(Image.new("1", (20000, 20000)), "PNG")
    with pytest.raises(TooManyPixels) as caught:
        intake(bomb)
    assert caught.value.user_message == "That image has too many pixels."


def test_perceptual_hash_finds_near_duplicates_only() -> None:
    original = scene(seed=1)
    resized = original.resize((240, 160))
    recompressed = intake(encode(resized, "JPEG", quality=60))
    first = intake(encode(original, "PNG"))
    other = intake(encode(scene(seed=2).transpose(Image.Transpose.FLIP_TOP_BOTTOM), "PNG"))
    assert first.sha256 != recompressed.sha256
    assert hash_distance(first.phash, recompressed.phash) <= 6
    assert hash_distance(first.phash, other.phash) > 10
