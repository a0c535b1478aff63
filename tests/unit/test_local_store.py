from pathlib import Path

import pytest

from core.errors import ObjectNotFound, UnsafeKey
from core.storage import LocalStore


def test_put_get_list_delete(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put("images/ab/one.jpg", b"first")
    store.put("images/cd/two.jpg", b"second")
    store.put("models/v1/model.npz", b"weights")
    assert store.get("images/ab/one.jpg") == b"first"
    assert store.exists("images/cd/two.jpg")
    assert store.list("images/") == ["images/ab/one.jpg", "images/cd/two.jpg"]
    assert store.delete("images/ab/one.jpg") is True
    assert store.delete("images/ab/one.jpg") is False
    assert not store.exists("images/ab/one.jpg")
    assert store.uri("models/v1/model.npz").startswith("file://")


def test_missing_object_raises_not_found(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(ObjectNotFound):
        store.get("nothing/here.jpg")


@pytest.mark.parametrize(
    "key", ["../escape.jpg", "a/../../b", "/etc/passwd", "a//b", "", "a/./b", "a\\b", "x\x00y"]
)
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(UnsafeKey):
        store.put(key, b"x")
    assert not (tmp_path / "escape.jpg").exists()


def test_symlink_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    store = LocalStore(tmp_path / "store")
    (store.root / "link").symlink_to(outside)
    with pytest.raises(ObjectNotFound):
        store.get("link/secret.txt")


def test_a_failed_write_leaves_the_old_object_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path)
    store.put("pointer.json", b'{"version": "a"}')

    def crash(self: Path, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.put("pointer.json", b'{"version": "b"}')
    monkeypatch.undo()
    assert store.get("pointer.json") == b'{"version": "a"}'
    assert store.list() == ["pointer.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["pointer.json"]


def test_listing_a_prefix_walks_only_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "store")
    for n in range(50):
        store.put(f"images/{n:02d}/photo.jpg", b"x")
    store.put("models/v1/manifest.json", b"{}")
    store.put("models/v10/manifest.json", b"{}")
    walked: list[Path] = []
    rglob = Path.rglob

    def recording(self: Path, pattern: str) -> object:
        walked.append(self)
        return rglob(self, pattern)

    monkeypatch.setattr(Path, "rglob", recording)
    assert store.list("models/v1") == ["models/v1/manifest.json", "models/v10/manifest.json"]
    assert store.list("nothing/") == []
    assert walked == [tmp_path / "store" / "models"]  # never the photos
