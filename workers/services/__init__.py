"""The logic the Celery tasks call: classify a photo, record an answer, acquire photos."""
