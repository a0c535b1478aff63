"""Read a PyTorch ``state_dict`` file into numpy arrays without importing torch.

Two on-disk formats exist: the zip archive written by torch >= 1.6 (``data.pkl`` plus one
entry per storage) and the older stream (magic number, protocol, system info, the pickled
object, the storage keys, then each storage's raw bytes). Both pickle tensors as calls to
``torch._utils._rebuild_tensor_v2`` whose storages are persistent ids; a restricted
unpickler resolves those to numpy buffers and refuses every other global.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from core.errors import ModelArtifactError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only the dtype matters."""

    def __init__(self, name: str) -> None:
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A flat typed buffer whose bytes may arrive after the pickle (legacy format)."""

    def __init__(self, dtype: np.dtype[Any], numel: int) -> None:
        self.dtype = dtype
        self.numel = numel
        self.data: np.ndarray | None = None


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _LazyTensor:
    return _LazyTensor(storage, offset, tuple(size), tuple(stride))


class _LazyTensor:
    """A tensor view recorded while unpickling, materialised once storages are filled."""

    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def to_numpy(self) -> np.ndarray:
        """Copy the view out of its storage."""
        if self.storage.data is None:
            raise ModelArtifactError("a tensor's storage was never read")
        self._check_bounds(len(self.storage.data))
        flat = self.storage.data[self.offset :]
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat, shape=self.size, strides=tuple(s * item for s in self.stride), writeable=False
        )
        return np.array(view)

    def _check_bounds(self, numel: int) -> None:
        """Refuse a view that would read outside its storage (as_strided does not check)."""
        values = (self.offset, *self.size, *self.stride)
        if len(self.size) != len(self.stride) or any(
            not isinstance(v, int) or v < 0 for v in values
        ):
            raise ModelArtifactError(f"a tensor has a bad view: {self.size} {self.stride}")
        if 0 in self.size:
            return
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if last >= numel:
            raise ModelArtifactError(f"a tensor reads element {last} of a storage of {numel}")


_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
}


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals a plain state_dict needs; storages come from a callback."""

    def __init__(self, file: IO[bytes], load_storage: Callable[[tuple[Any, ...]], Any]) -> None:
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed stand-in or refuse the global."""
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ModelArtifactError(f"unexpected object {module}.{name} in weights file")

    def persistent_load(self, pid: Any) -> Any:
        """Turn a storage reference into a (possibly not yet filled) storage."""
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise ModelArtifactError(f"unexpected persistent id {pid!r}")
        return self._load_storage(pid[1:])


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Return the tensors of a torch ``state_dict`` file as float/int numpy arrays."""
    try:
        if zipfile.is_zipfile(path):
            result = _read_zip(path)
        else:
            with path.open("rb") as handle:
                result = _read_legacy(handle)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, struct.error) as exc:
        raise ModelArtifactError(f"{path} is not a readable torch weights file: {exc}") from exc
    if not isinstance(result, dict):
        raise ModelArtifactError(f"{path} does not hold a state_dict")
    return {str(key): _to_numpy(value) for key, value in result.items()}


def _to_numpy(value: Any) -> np.ndarray:
    if not isinstance(value, _LazyTensor):
        raise ModelArtifactError(f"state_dict entry of type {type(value).__name__}")
    return value.to_numpy()


def _read_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ModelArtifactError(f"{path}: expected one data.pkl in the archive")
        root = pickles[0].removesuffix("data.pkl")

        def load_storage(ref: tuple[Any, ...]) -> _Storage:
            storage_type, key, _location, numel = ref[:4]
            storage = _Storage(storage_type.dtype, int(numel))
            raw = archive.read(f"{root}data/{key}")
            storage.data = np.frombuffer(raw, dtype=storage.dtype, count=storage.numel)
            return storage

        with archive.open(pickles[0]) as handle:
            return _Unpickler(io.BytesIO(handle.read()), load_storage).load()


def _read_legacy(handle: IO[bytes]) -> Any:
    storages: dict[str, _Storage] = {}

    def load_storage(ref: tuple[Any, ...]) -> _Storage:
        storage_type, key, _location, numel, view = ref[:5]
        if view is not None:
            raise ModelArtifactError("storage views are not supported")
        if key not in storages:
            storages[key] = _Storage(storage_type.dtype, int(numel))
        return storages[key]

    def refuse(ref: tuple[Any, ...]) -> None:
        raise ModelArtifactError("unexpected storage in file header")

    if _Unpickler(handle, refuse).load() != _LEGACY_MAGIC:
        raise ModelArtifactError("not a torch weights file (bad magic number)")
    _Unpickler(handle, refuse).load()  # protocol version
    _Unpickler(handle, refuse).load()  # system info (byte order, type sizes)
    result = _Unpickler(handle, load_storage).load()
    for key in _Unpickler(handle, refuse).load():
        storage = storages[key]
        (numel,) = struct.unpack("<q", handle.read(8))
        raw = handle.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
            raise ModelArtifactError(f"storage {key} is truncated")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return result
