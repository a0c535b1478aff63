"""The keras and hub backbone sources give the same interface as the offline port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import BackboneUnavailable
from core.model.sources import backbone_id, build_backbone
from core.settings import Settings, load_settings

pytestmark = pytest.mark.model


def hub_settings(tmp_path: Path, handle: str | None) -> Settings:
    return load_settings(data_dir=tmp_path, model={"backbone_source": "hub", "hub_handle": handle})


def test_hub_source_loads_a_savedmodel_directory(tmp_path: Path, keras_backbone: Any) -> None:
    import keras
    import tensorflow as tf

    # A SavedModel with TF Hub's image convention: inputs in [0, 1], named outputs.
    inputs = keras.Input((224, 224, 3))
    embedding, logits = keras_backbone(keras.layers.Rescaling(255.0)(inputs))
    wrapped = keras.Model(inputs, {"feature_vector": embedding, "logits": logits})
    directory = tmp_path / "hub-model"
    wrapped.export(str(directory), format="tf_saved_model", verbose=False)

    model = build_backbone(hub_settings(tmp_path, str(directory)))
    photos = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    got = model(tf.constant(photos), training=False)
    want = keras_backbone(tf.constant(photos), training=False)
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(got[1].numpy(), want[1].numpy(), atol=1e-3)


def test_hub_source_without_handle_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BackboneUnavailable, match="CREATURE_VIS_MODEL__HUB_HANDLE"):
        build_backbone(hub_settings(tmp_path, None))


def test_keras_source_wraps_keras_applications(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    original = keras.applications.MobileNetV2

    def offline_mobilenet(**kwargs: Any) -> Any:
        return original(**{**kwargs, "weights": None})  # no download in tests

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline_mobilenet)
    settings = load_settings(data_dir=tmp_path, model={"backbone_source": "keras"})
    model = build_backbone(settings)
    embedding, logits = model(np.zeros((1, 224, 224, 3), np.float32), training=False)
    assert embedding.shape == (1, 1280)
    assert logits.shape == (1, 1000)
    assert backbone_id(settings) != backbone_id(load_settings(data_dir=tmp_path))
