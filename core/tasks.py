"""Celery task names: the contract between the bot, the server and the workers.

Senders call ``send_task(NAME, kwargs=Message(...).model_dump(mode="json"))`` and never
import ``workers``; the workers register their tasks under exactly these names.
"""

from __future__ import annotations

from typing import Final

CLASSIFY: Final = "creature_vis.classify"
RECORD_FEEDBACK: Final = "creature_vis.record_feedback"
ACQUIRE_PHOTOS: Final = "creature_vis.acquire_photos"
CHECK_RETRAIN: Final = "creature_vis.check_retrain"
RETRAIN: Final = "creature_vis.retrain"

# Queues: inference is latency-sensitive and must not wait behind a long retrain.
INFERENCE_QUEUE: Final = "inference"
DEFAULT_QUEUE: Final = "default"
TRAINING_QUEUE: Final = "training"
