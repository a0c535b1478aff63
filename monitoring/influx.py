"""InfluxDB 2.x access for the exporter: the client, a synchronous writer, and the bootstrap.

The bootstrap makes the bucket exist with the retention from settings and maps it to an
InfluxQL database of the same name (a DBRP mapping), which is what Grafana's InfluxQL
dashboards query through InfluxDB 2.x's 1.x-compatible ``/query`` endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules
from influxdb_client.domain.dbrp_create import DBRPCreate
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.service.dbr_ps_service import DBRPsService

from core.errors import ConfigurationError
from core.settings import Settings
from monitoring.points import Point

log = logging.getLogger(__name__)

WRITE_CHUNK = 5000
RETENTION_POLICY = "autogen"
Writer = Callable[[Sequence[Point]], None]


@dataclass(frozen=True)
class BootstrapResult:
    """What the bootstrap found or changed."""

    bucket_id: str
    retention_seconds: int
    created_bucket: bool
    changed_retention: bool
    created_mapping: bool


def open_client(settings: Settings) -> InfluxDBClient:
    """A client for the configured InfluxDB (token auth; HTTPS when the URL says so)."""
    monitoring = settings.monitoring
    if not monitoring.influx_url:
        raise ConfigurationError("CREATURE_VIS_MONITORING__INFLUX_URL is not set")
    token = monitoring.influx_token.get_secret_value() if monitoring.influx_token else ""
    return InfluxDBClient(
        url=monitoring.influx_url, token=token, org=monitoring.influx_org, timeout=30_000
    )


def writer_for(client: InfluxDBClient, settings: Settings) -> Writer:
    """A function writing points synchronously, in chunks, to settings' bucket."""
    write_api = client.write_api(write_options=SYNCHRONOUS)
    bucket, org = settings.monitoring.influx_bucket, settings.monitoring.influx_org

    def write(batch: Sequence[Point]) -> None:
        for start in range(0, len(batch), WRITE_CHUNK):
            write_api.write(
                bucket=bucket,
                org=org,
                record=[p.to_dict() for p in batch[start : start + WRITE_CHUNK]],
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]
            )

    return write


def retention_seconds(settings: Settings) -> int:
    """Retention of exported points from settings, in seconds (0 keeps them forever)."""
    return settings.monitoring.influx_retention_days * 86_400


def bootstrap(client: InfluxDBClient, settings: Settings) -> BootstrapResult:
    """Create or update the bucket's retention and its InfluxQL mapping; idempotent."""
    name, org_name = settings.monitoring.influx_bucket, settings.monitoring.influx_org
    organizations = client.organizations_api().find_organizations(org=org_name)  # type: ignore[no-untyped-call]
    if not organizations:
        raise ConfigurationError(f"InfluxDB has no organisation {org_name!r}")
    organization = organizations[0]
    org_id = organization.id
    seconds = retention_seconds(settings)
    rule = BucketRetentionRules(type="expire", every_seconds=seconds)  # type: ignore[no-untyped-call]
    rules = [rule] if seconds else []
    buckets = client.buckets_api()
    bucket = buckets.find_bucket_by_name(name)  # type: ignore[no-untyped-call]
    created = changed = False
    if bucket is None:
        bucket = buckets.create_bucket(bucket_name=name, org=organization, retention_rules=rules)
        created = True
    elif _current_retention(bucket) != seconds:
        bucket.retention_rules = rules
        bucket = buckets.update_bucket(bucket=bucket)
        changed = True
    dbrps = DBRPsService(client.api_client)  # type: ignore[no-untyped-call]
    found = dbrps.get_dbr_ps(org_id=org_id, bucket_id=bucket.id)  # type: ignore[no-untyped-call]
    mapped = found.content or []
    if not mapped:
        dbrps.post_dbrp(  # type: ignore[no-untyped-call]
            DBRPCreate(  # type: ignore[no-untyped-call]
                org_id=org_id,
                bucket_id=bucket.id,
                database=name,
                retention_policy=RETENTION_POLICY,
                default=True,
            )
        )
    log.info("influx bucket %s: retention %ss", name, seconds)
    return BootstrapResult(str(bucket.id), seconds, created, changed, not mapped)


def try_bootstrap(client: InfluxDBClient, settings: Settings) -> str:
    """Bootstrap, but report a failure instead of raising; return what happened.

    The exporter's token may only be allowed to write, and servers other than InfluxDB 2.x
    have no bucket API; the write that follows reports real trouble.
    """
    try:
        result = bootstrap(client, settings)
    except Exception as exc:  # best effort, see above
        reason = str(getattr(exc, "reason", None) or exc).splitlines()[0][:200]
        log.warning("InfluxDB bootstrap skipped (%s); run `creature-vis export-metrics "
                    "--bootstrap` with an admin token", reason)  # fmt: skip
        return f"skipped: {reason}"
    return f"bucket {result.bucket_id}: retention {result.retention_seconds}s, InfluxQL mapped"


def _current_retention(bucket: object) -> int:
    rules = getattr(bucket, "retention_rules", None) or []
    return int(rules[0].every_seconds) if rules else 0
