"""The logic the Celery tasks call: classify, record answers, acquire photos, scheduled checks."""
