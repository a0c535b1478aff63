"""Helpers for the model-server tests: a small real backbone engine and a live uvicorn server.

``ColourEngine`` is a deterministic stand-in for MobileNetV2 with the engine interface, so the
real registry, ModelHandle and classifier code run without TensorFlow: a mostly red picture
gets the logits of an ImageNet dog, green a cat, blue a bird, anything else a zebra.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI
from PIL import Image

from core.labels import LABEL_INDEX
from core.model.api import EMBEDDING_SIZE
from core.model.classifier import HEAD_INPUT_SIZE, NUM_LABELS, Head
from core.model.handle import ModelHandle, open_registry
from core.model.registry import Lineage
from core.settings import Settings, load_settings
from core.storage import ImageStore
from model_server.app import create_app
from model_server.model import ModelFactory
from tests.conftest import REPO

# ImageNet classes: 151 Chihuahua (dog), 281 tabby (cat), 10 brambling (bird), 340 zebra.
COLOUR_CLASSES = {0: 151, 1: 281, 2: 10}
OTHER_CLASS = 340


class ColourEngine:
    """Backbone engine whose logits follow the dominant colour of the picture."""

    name = "colour"

    def __init__(self, gate: threading.Event | None = None, delay: float = 0.0) -> None:
        self.gate = gate
        self.delay = delay
        self.calls: list[int] = []
        self.entered = threading.Event()

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (embeddings, logits) for float32 ``(N, 224, 224, 3)``."""
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=60)
        if self.delay:
            time.sleep(self.delay)
        self.calls.append(len(batch))
        means = batch.reshape(len(batch), -1, 3).mean(axis=1) / 255.0
        embeddings = np.zeros((len(batch), EMBEDDING_SIZE), np.float32)
        embeddings[:, :3] = means
        logits = np.zeros((len(batch), 1000), np.float32)
        for row, mean in enumerate(means):
            strongest = int(np.argmax(mean))
            dominant = mean[strongest] - np.sort(mean)[-2] > 0.2
            logits[row, COLOUR_CLASSES[strongest] if dominant else OTHER_CLASS] = 12.0
        return embeddings, logits


def colour_factory(engine: ColourEngine | None = None, reload_seconds: float = 0.2) -> ModelFactory:
    """A model factory: the real registry and handle on the settings' store, colour engine."""
    shared = engine or ColourEngine()

    def build(settings: Settings, store: ImageStore) -> ModelHandle:
        return ModelHandle(open_registry(settings, store), lambda: shared, reload_seconds)

    return build


def save_constant_head(settings: Settings, label: str, version: str | None = None) -> str:
    """Store (not promote) a head version that always answers ``label``; return its name."""
    weights = np.zeros((HEAD_INPUT_SIZE, NUM_LABELS), np.float32)
    bias = np.zeros(NUM_LABELS, np.float32)
    bias[LABEL_INDEX[label]] = 8.0
    registry = open_registry(settings)
    registry.ensure_taxonomy()
    lineage = Lineage(parent_version="v0", dataset_version=None, code_version="test")
    return registry.save_head(
        Head(weights=weights, bias=bias),
        metrics={"accuracy": 0.5},
        lineage=lineage,
        version=version,
    )


def photo_bytes(
    colour: tuple[int, int, int], size: tuple[int, int] = (64, 48), fmt: str = "JPEG"
) -> bytes:
    """A small solid-colour photo."""
    image = Image.new("RGB", size, colour)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def noisy_photo(colour: tuple[int, int, int], seed: int, size: tuple[int, int] = (96, 72)) -> bytes:
    """A distinct photo per seed, dominated by ``colour``."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.integers(-30, 30, (size[1], size[0], 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def with_server(settings: Settings, **changes: object) -> Settings:
    """``settings`` with some of the server section's settings changed."""
    server = settings.server.model_copy(update=changes)
    return settings.model_copy(update={"server": server}, deep=True)


@dataclass
class LiveServer:
    """A uvicorn server running the app in a thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: FastAPI

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client on the server."""
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]

    def written(self) -> None:
        """Wait until the predictions answered so far are in the warehouse and the store.

        The server writes them behind its answers (``model_server.prediction_log``).
        """
        self.app.state.server.prediction_log.flush()


@contextmanager
def live_server(
    settings: Settings,
    factory: ModelFactory | None = None,
    on_ready: Callable[[], object] | None = None,
) -> Iterator[LiveServer]:
    """Start the app with uvicorn on a free port; wait until /readyz says ready."""
    app = create_app(settings, model_factory=factory, on_ready=on_ready)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5, proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout=120, what="the server to be ready")
        yield LiveServer(url, server, thread, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def shared_cache_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings on ``data_dir`` sharing the repository's cache (weights, converted runtimes)."""
    shared = REPO / "var" / "cache"
    shared.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(shared, target_is_directory=True)
    return load_settings(data_dir=data_dir, **overrides)


def real_photo(folder: Path, label: str, index: int = 0) -> Path:
    """A real photo of ``label`` from animals-dev (no 32x32 CIFAR thumbnails)."""
    photos = sorted(p for p in (folder / label).glob("*.jpg") if not p.name.startswith("cifar_"))
    return photos[index]
