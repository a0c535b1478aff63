"""Intake's memory is bounded whatever the file: measured in a fresh process per case.

The limits are the hardening issue's: an accepted file raises a process's peak memory by at
most 100 MB, six copies read at once by at most 600 MB in all; a decompression bomb is
refused before it is decoded.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO

MEASURE = """
import io, json, sys, threading
from PIL import Image
from core.images import intake


def peak_mb():
    for line in open("/proc/self/status"):  # VmHWM starts afresh at exec
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


small = io.BytesIO()
Image.new("RGB", (64, 48), (10, 200, 30)).save(small, "PNG")
intake(small.getvalue())
data = open(sys.argv[1], "rb").read()
before = peak_mb()
outcomes = []


def read():
    try:
        found = intake(data)
        outcomes.append(f"accepted {found.width}x{found.height}")
    except Exception as exc:
        outcomes.append(type(exc).__name__)


threads = [threading.Thread(target=read) for _ in range(int(sys.argv[2]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"outcomes": sorted(set(outcomes)), "rise_mb": peak_mb() - before}))
"""


def measured(path: Path, copies: int) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(copies)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def saved(tmp_path: Path, name: str, image: Image.Image, fmt: str) -> Path:
    buffer = io.BytesIO()
    image.save(buffer, fmt, optimize=True)
    (tmp_path / name).write_bytes(buffer.getvalue())
    return tmp_path / name


@pytest.fixture(scope="module")
def gradient() -> Image.Image:
    return Image.linear_gradient("L").resize((4000, 4000))


def test_the_transparent_bomb_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    bomb = saved(tmp_path, "bomb.png", Image.new("RGBA", (6000, 6000), (0, 0, 0, 0)), "PNG")
    assert bomb.stat().st_size < 200_000  # 36 Mpx in a small file, under the pixel limit
    for copies in (1, 6):
        result = measured(bomb, copies)
        assert result["outcomes"] == ["TooManyPixels"]
        assert float(result["rise_mb"]) < 20  # type: ignore[arg-type]


def test_a_large_transparent_png_is_read_within_100_mb_and_six_within_600(
    tmp_path: Path, gradient: Image.Image
) -> None:
    rgba = Image.merge("RGBA", (gradient, gradient.transpose(Image.Transpose.ROTATE_90),
                                gradient, gradient))  # fmt: skip
    photo = saved(tmp_path, "large.png", rgba, "PNG")
    one, six = measured(photo, 1), measured(photo, 6)
    assert one["outcomes"] == six["outcomes"] == ["accepted 4000x4000"]
    assert float(one["rise_mb"]) <= 100  # type: ignore[arg-type]
    assert float(six["rise_mb"]) <= 600  # type: ignore[arg-type]


def test_a_40_megapixel_jpeg_decodes_at_reduced_scale(
    tmp_path: Path, gradient: Image.Image
) -> None:
    photo = saved(tmp_path, "large.jpg", Image.merge("RGB", (gradient.resize((7300, 5470)),) * 3),
                  "JPEG")  # fmt: skip
    result = measured(photo, 6)
    assert result["outcomes"] == ["accepted 7300x5470"]
    assert float(result["rise_mb"]) <= 100  # type: ignore[arg-type]
