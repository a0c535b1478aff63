"""Metrics: the MetricsSink port and adapters, metric names, aggregates and key figures.

The InfluxDB exporter that reads them is the ``monitoring`` component.
"""

from __future__ import annotations

from core.metrics.sink import MetricPoint, MetricsSink, NullSink, WarehouseSink
from core.settings import Profile, Settings
from core.warehouse import Warehouse

__all__ = ["MetricPoint", "MetricsSink", "NullSink", "WarehouseSink", "open_sink"]


def open_sink(settings: Settings, warehouse: Warehouse | None = None) -> MetricsSink:
    """Cloud Monitoring on the gcp profile, the warehouse's ``metric_points`` otherwise."""
    if settings.profile is Profile.GCP:
        from google.cloud import monitoring_v3

        from core.metrics.cloud_monitoring import CloudMonitoringSink

        assert settings.gcp.project is not None  # noqa: S101  (required by Settings on gcp)
        return CloudMonitoringSink(monitoring_v3.MetricServiceClient(), settings.gcp.project)
    if warehouse is None:
        from core.warehouse import open_warehouse

        warehouse = open_warehouse(settings)
    return WarehouseSink(warehouse)
