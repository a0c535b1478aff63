"""The model: backbone, classifiers, serving runtimes and the registry.

Entry points (import the module you need; nothing here loads a model at import time):

* ``core.model.handle.ModelHandle.from_settings(settings, store)``: the production
  classifier for a server or worker, following the registry pointer (``.get()``,
  ``.predict(images)``, ``.refresh()``), plus the staged one in shadow when
  ``promotion.staging`` is on (``.shadow()``; predictions carry ``.shadow``).
* ``core.model.handle.open_registry(settings, store)``: versions, ``save_head``, ``promote``,
  ``rollback``, ``versions``, ``get``, ``production``, ``stage``/``staging``/``unstage``.
* ``core.model.features``: the feature cache retraining trains from (``FeatureCache``) and
  the background ``FeatureWriter`` that fills it from served predictions.
* ``core.model.classifier.compute_features(engine, images)``: embeddings plus model v0's
  log-probabilities, the input of a trained head; ``core.model.runtime.open_engine(settings)``
  gives the engine.
* ``core.model.preprocess``: the one path from photo bytes to model input.
* ``core.model.metrics``: scoring (accuracy, macro-F1, recall, confusion).
"""
