"""ImageStore on a local directory, with atomic writes (temp file, fsync, rename)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from core.errors import ObjectNotFound
from core.storage.base import check_key

_TEMP_SUFFIX = ".partial"
_LOCK_SUFFIX = ".lock"  # ``.<name>.lock`` beside an object that ``replace`` guards


class LocalStore:
    """Objects are files under ``root``; a key is a relative path."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink pointing out of the root
            raise ObjectNotFound(key)
        return path

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write ``data`` to a temporary file in the same directory, then rename it."""
        path = self._path(key)
        temp = self._written_temp(path, data)
        try:
            temp.replace(path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def create(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        """Link a fully written temporary file into place, which fails if ``key`` exists."""
        path = self._path(key)
        temp = self._written_temp(path, data)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)
        return True

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """Return the bytes and their sha256 (the token ``replace`` compares)."""
        data = self.get(key)
        return data, hashlib.sha256(data).hexdigest()

    def replace(
        self, key: str, data: bytes, token: str | None, content_type: str | None = None
    ) -> bool:
        """Under a lock on the key (across processes), write only if it is still ``token``."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(f".{path.name}{_LOCK_SUFFIX}")
        with lock.open("a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                current = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
                if current != token:
                    return False
                self.put(key, data, content_type)
                return True
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    @staticmethod
    def _written_temp(path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return Path(temp)

    def get(self, key: str) -> bytes:
        """Return the file's bytes."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key) from exc

    def exists(self, key: str) -> bool:
        """Tell whether the file exists."""
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Return keys under ``prefix``, skipping half-written temp files.

        Only the folder the prefix names is walked, not the whole store (photos included).
        """
        keys = []
        folder = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        for path in folder.rglob("*"):
            hidden = path.name.endswith(_TEMP_SUFFIX) or (
                path.name.startswith(".") and path.name.endswith(_LOCK_SUFFIX)
            )
            if path.is_file() and not hidden:
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> bool:
        """Remove the file."""
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def uri(self, key: str) -> str:
        """Return a file:// URI."""
        return self._path(key).as_uri()

    def ping(self) -> None:
        """Check that the root is a writable directory."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise OSError(f"{self.root} is not a writable directory")
