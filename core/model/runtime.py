"""Engines that run the backbone: Keras (reference, training), LiteRT and ONNX Runtime (serving).

The fast engines are converted once from a SavedModel export of the Keras backbone (converting
a Keras 3 concrete function directly produced a broken LiteRT model) and cached under
``settings.cache_dir/runtime/<backbone id>/``. Once cached, LiteRT and ONNX Runtime start
without importing TensorFlow. Every engine maps float32 ``(N, 224, 224, 3)`` 0-255 RGB to
``(embedding (N, 1280), logits (N, 1000))``.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import ConfigurationError, ModelArtifactError
from core.model.api import EMBEDDING_SIZE
from core.model.sources import backbone_id, build_backbone
from core.settings import Settings

log = logging.getLogger(__name__)
RUNTIMES = ("litert", "onnx", "keras")
_LITERT_FILE = "backbone.tflite"
_ONNX_FILE = "backbone.onnx"
_ONNX_OPSET = 17


class Engine(Protocol):
    """Runs the backbone on a batch."""

    name: str

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (embeddings, logits) for float32 0-255 RGB ``(N, 224, 224, 3)``."""


class KerasEngine:
    """The Keras model behind a traced ``tf.function``: the reference."""

    name = "keras"

    def __init__(self, model: Any) -> None:
        import tensorflow as tf

        self.model = model
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the traced model."""
        embedding, logits = self._forward(np.asarray(batch, dtype=np.float32))
        return embedding.numpy(), logits.numpy()


class LiteRTEngine:
    """A LiteRT interpreter (XNNPACK delegate) resized to each batch; one call at a time."""

    name = "litert"

    def __init__(self, path: Path, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        widths = {int(d["shape_signature"][-1]): d["index"] for d in outputs}
        self._embedding, self._logits = widths[EMBEDDING_SIZE], widths[1000]
        self._batch = 0
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Invoke the interpreter, resizing its input when the batch size changes."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if batch.shape[0] != self._batch:
                self._interpreter.resize_tensor_input(self._input, batch.shape, strict=False)
                self._interpreter.allocate_tensors()
                self._batch = batch.shape[0]
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            embedding = self._interpreter.get_tensor(self._embedding).copy()
            logits = self._interpreter.get_tensor(self._logits).copy()
        return embedding, logits


class OnnxEngine:
    """An ONNX Runtime session on the CPU provider."""

    name = "onnx"

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        widths = [int(o.shape[-1]) for o in self._session.get_outputs()]
        self._embedding_at = widths.index(EMBEDDING_SIZE)
        self._logits_at = widths.index(1000)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the session."""
        outputs = self._session.run(None, {self._input: np.asarray(batch, dtype=np.float32)})
        return np.asarray(outputs[self._embedding_at]), np.asarray(outputs[self._logits_at])


def runtime_dir(settings: Settings) -> Path:
    """Directory of the converted models of the configured backbone."""
    return settings.cache_dir / "runtime" / backbone_id(settings)


def open_engine(settings: Settings, runtime: str | None = None) -> Engine:
    """Open the serving engine (``settings.model.runtime`` unless given), converting once."""
    wanted = runtime or settings.model.runtime
    candidates = RUNTIMES if wanted == "auto" else (wanted,)
    errors = []
    for name in candidates:
        try:
            return _open(settings, name)
        except (ConfigurationError, ModelArtifactError):
            raise  # the weights themselves are missing or bad: no runtime can help
        except Exception as exc:  # converters raise their own error types
            if wanted != "auto":
                raise
            log.warning("runtime %s unavailable, trying the next: %s", name, exc)
            errors.append(f"{name}: {exc}")
    raise RuntimeError("no runtime could be opened: " + "; ".join(errors))


def _open(settings: Settings, name: str) -> Engine:
    threads = settings.model.threads
    if name == "keras":
        return KerasEngine(build_backbone(settings))
    folder = runtime_dir(settings)
    if name == "litert":
        return LiteRTEngine(_ensure(folder / _LITERT_FILE, settings, _convert_litert), threads)
    if name == "onnx":
        return OnnxEngine(_ensure(folder / _ONNX_FILE, settings, _convert_onnx), threads)
    raise ValueError(f"unknown runtime {name!r}")


def _ensure(target: Path, settings: Settings, convert: Any) -> Path:
    """Return ``target``, converting from a SavedModel export first when it is missing."""
    if target.is_file():
        return target
    with _conversion_lock(target.parent):
        if target.is_file():  # another process converted it while we waited
            return target
        saved_model = _ensure_saved_model(settings)
        with tempfile.TemporaryDirectory(dir=target.parent) as temp:
            partial = Path(temp) / target.name
            convert(saved_model, partial)
            partial.replace(target)
    log.info("converted backbone to %s", target)
    return target


@contextmanager
def _conversion_lock(folder: Path) -> Iterator[None]:
    """Serialise conversions between processes that start together."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".convert.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_saved_model(settings: Settings) -> Path:
    """Export the Keras backbone as a SavedModel once (call under the conversion lock)."""
    target = runtime_dir(settings) / "saved_model"
    if (target / "saved_model.pb").is_file():
        return target
    model = build_backbone(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as temp:
        partial = Path(temp) / "saved_model"
        model.export(str(partial), format="tf_saved_model", verbose=False)
        shutil.rmtree(target, ignore_errors=True)
        partial.replace(target)
    return target


def _convert_litert(saved_model: Path, target: Path) -> None:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    target.write_bytes(converter.convert())


def _convert_onnx(saved_model: Path, target: Path) -> None:
    import tensorflow as tf
    from tf2onnx import convert, tf_loader

    graph_def, inputs, outputs = tf_loader.from_saved_model(
        str(saved_model), None, None, "serve", ["serving_default"]
    )
    with tf.device("/cpu:0"):
        convert.from_graph_def(
            graph_def,
            input_names=inputs,
            output_names=outputs,
            opset=_ONNX_OPSET,
            output_path=str(target),
        )
