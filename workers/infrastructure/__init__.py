"""What the workers run on beside Celery: the interaction log held in Redis and its flusher."""
