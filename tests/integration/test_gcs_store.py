"""GcsStore against a real gcp-storage-emulator process on 127.0.0.1."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from core.errors import ObjectNotFound
from core.storage.gcs import GcsStore

pytestmark = pytest.mark.gcp
BUCKET = "creature-vis-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    port = free_port()
    binary = Path(sys.executable).parent / "gcp-storage-emulator"
    process = subprocess.Popen(
        [str(binary), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory",
         "--default-bucket", BUCKET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("gcp-storage-emulator did not start")
    host = f"http://127.0.0.1:{port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = host
    yield host
    process.terminate()
    process.wait(timeout=10)
    if previous is None:
        del os.environ["STORAGE_EMULATOR_HOST"]
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture
def store(emulator: str) -> GcsStore:
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    return GcsStore(client, BUCKET, prefix=f"run-{time.monotonic_ns()}")


def test_put_get_exists_list_delete(store: GcsStore) -> None:
    store.put("images/aa/one.jpg", b"\xff\xd8one", "image/jpeg")
    store.put("images/bb/two.jpg", b"\xff\xd8two", "image/jpeg")
    store.put("models/production.json", b"{}")
    assert store.get("images/aa/one.jpg") == b"\xff\xd8one"
    assert store.exists("images/bb/two.jpg")
    assert not store.exists("images/cc/three.jpg")
    assert store.list("images/") == ["images/aa/one.jpg", "images/bb/two.jpg"]
    assert store.delete("images/aa/one.jpg") is True
    assert store.delete("images/aa/one.jpg") is False
    assert store.list("images/") == ["images/bb/two.jpg"]
    assert store.uri("models/production.json").startswith(f"gs://{BUCKET}/run-")
    store.ping()


def test_object_over_8_mb_round_trips(store: GcsStore) -> None:
    payload = os.urandom(9 * 1024 * 1024)
    store.put("models/big/model.bin", payload)
    assert store.get("models/big/model.bin") == payload


def test_missing_object_raises_not_found(store: GcsStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.get("images/none.jpg")


def test_the_registry_moves_production_on_cloud_storage(store: GcsStore) -> None:
    from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
    from core.model.registry import Lineage, ModelRegistry

    registry = ModelRegistry(store, "test-backbone")
    registry.ensure_taxonomy()
    head = Head(np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32),
                np.zeros(NUM_LABELS, np.float32))  # fmt: skip
    lineage = Lineage(parent_version="v0", dataset_version=None, code_version="test")
    version = registry.save_head(head, metrics={}, lineage=lineage)
    registry.promote(version, replacing="v0")
    assert registry.production() == version
    assert registry.rollback() == "v0"


def test_conditional_writes_send_generation_preconditions() -> None:
    client = mock.MagicMock()
    blob = client.bucket.return_value.blob.return_value
    gcs = GcsStore(client, BUCKET)
    assert gcs.create("models/v1/claim.json", b"{}") is True
    assert blob.upload_from_string.call_args.kwargs["if_generation_match"] == 0
    assert gcs.replace("models/production.json", b"{}", "1712") is True
    assert blob.upload_from_string.call_args.kwargs["if_generation_match"] == 1712
    blob.upload_from_string.side_effect = gexc.PreconditionFailed("generation moved")
    assert gcs.replace("models/production.json", b"{}", "1712") is False
    found = client.bucket.return_value.get_blob.return_value
    found.generation = 1713
    found.download_as_bytes.return_value = b'{"version": "v1"}'
    assert gcs.get_versioned("models/production.json") == (b'{"version": "v1"}', "1713")
    found.download_as_bytes.assert_called_with(if_generation_match=1713)
