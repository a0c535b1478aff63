"""Monitoring: ship warehouse aggregates and sink metrics to InfluxDB, and sample the queues.

A component like ``retraining``: it imports only ``core``. ``python -m monitoring`` exports
once (the Cloud Run job) or periodically (a child of ``creature-vis run``, a compose service).
"""
