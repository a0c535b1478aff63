"""Peak memory of intake on hostile and large files, today's code beside an earlier one.

Each case runs in a fresh process: it warms up on a small photo, then reads the file (or six
copies at once on six threads) and reports how far its peak resident memory rose. The
earlier intake is the file ``core/images.py`` at a git revision, loaded under another name.

    .venv/bin/python bench/intake_memory.py [--before REV]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
MEASURE = """
import importlib.util, io, json, sys, threading
from PIL import Image


def peak_mb():
    # VmHWM starts afresh at exec (getrusage's ru_maxrss keeps the parent's peak).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

module_path, photo, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = importlib.util.spec_from_file_location("intake_under_test", module_path)
images = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = images  # dataclasses look their module up there
spec.loader.exec_module(images)
small = io.BytesIO()
Image.new("RGB", (64, 48), (10, 200, 30)).save(small, "PNG")
images.intake(small.getvalue())
data = open(photo, "rb").read()
before = peak_mb()
outcomes = []
def read():
    try:
        images.intake(data)
        outcomes.append("accepted")
    except Exception as exc:
        outcomes.append(type(exc).__name__)
threads = [threading.Thread(target=read) for _ in range(copies)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"outcomes": sorted(set(outcomes)), "rise_mb": peak_mb() - before}))
"""


def hostile_files(folder: Path) -> dict[str, Path]:
    """The cases: the 6000x6000 transparent PNG, a large RGBA PNG, a 40 Mpx JPEG."""
    cases: dict[str, Path] = {}

    def save(name: str, image: Image.Image, fmt: str, **options: object) -> None:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        (folder / name).write_bytes(buffer.getvalue())
        cases[name] = folder / name

    save("transparent-6000x6000.png", Image.new("RGBA", (6000, 6000), (0, 0, 0, 0)), "PNG",
         optimize=True)  # fmt: skip
    gradient = Image.linear_gradient("L").resize((4000, 4000))
    rgba = Image.merge("RGBA", (gradient, gradient.transpose(Image.Transpose.ROTATE_90),
                                gradient, gradient))  # fmt: skip
    save("rgba-4000x4000.png", rgba, "PNG")
    photo = Image.merge("RGB", (gradient.resize((7300, 5470)),) * 3)
    save("photo-7300x5470.jpg", photo, "JPEG", quality=70)
    return cases


def measure(module: Path, photo: Path, copies: int) -> dict[str, object]:
    """Run one case in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(module), str(photo), str(copies)],
        capture_output=True, text=True, check=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="cba647a", help="git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as temp:
        folder = Path(temp)
        earlier = folder / "images_before.py"
        earlier.write_text(subprocess.run(
            ["git", "show", f"{args.before}:core/images.py"], cwd=REPO, capture_output=True,  # noqa: S607
            text=True, check=True,
        ).stdout)  # fmt: skip
        now = REPO / "core" / "images.py"
        print("| file | copies | before: outcome, peak rise | now: outcome, peak rise |")
        print("|---|---|---|---|")
        for name, path in hostile_files(folder).items():
            for copies in (1, 6):
                old, new = measure(earlier, path, copies), measure(now, path, copies)
                print(f"| {name} ({path.stat().st_size // 1024} KB) | {copies} | "
                      f"{','.join(old['outcomes'])}, {old['rise_mb']:.0f} MB | "  # type: ignore[arg-type]
                      f"{','.join(new['outcomes'])}, {new['rise_mb']:.0f} MB |", flush=True)  # type: ignore[arg-type]  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
