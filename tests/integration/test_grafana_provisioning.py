"""The Grafana provisioning files, checked the way Grafana reads them.

No Grafana server runs here, so: files parse, ids are unique, every panel and alert uses the
provisioned data source, and every panel, annotation and alert query runs against a real
InfluxQL server (InfluxDB 1.x) holding what the exporter wrote, and returns rows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import env_name
from tests.integration.monitoring_support import exported_influxdb, influxql

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
RANGE_START = NOW - dt.timedelta(days=7)
RANGE_END = NOW + dt.timedelta(minutes=5)


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((GRAFANA / "provisioning" / relative).read_text())


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


DATASOURCE = load_yaml("datasources/influxdb.yaml")["datasources"][0]
RULES = [rule for group in load_yaml("alerting/rules.yaml")["groups"] for rule in group["rules"]]
PANEL_QUERIES = [
    pytest.param(panel, target, id=f"{name}:{panel['id']}:{target['refId']}")
    for name, dashboard in dashboards().items()
    for panel in dashboard["panels"]
    for target in panel["targets"]
]
ANNOTATIONS = [
    pytest.param(annotation, id=f"{name}:{annotation['name']}")
    for name, dashboard in dashboards().items()
    for annotation in dashboard["annotations"]["list"]
    if not annotation.get("builtIn")
]


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with exported_influxdb(tmp_path_factory.mktemp("grafana"), NOW) as (url, _, result):
        assert result.points > 100
        yield url


def render(query: str, time_filter: str) -> str:
    """Expand the Grafana macros the way the InfluxDB data source does."""
    rendered = query.replace("$timeFilter", time_filter).replace("$__interval", "5m")
    assert "$" not in rendered, f"unexpanded variable in {rendered}"
    return rendered


def dashboard_range() -> str:
    start, end = (int(t.timestamp() * 1000) for t in (RANGE_START, RANGE_END))
    return f"time >= {start}ms and time <= {end}ms"


def values(series: list[dict[str, Any]]) -> list[Any]:
    return [v for s in series for row in s["values"] for v in row[1:] if v is not None]


def test_four_dashboards_with_unique_uids_and_panel_ids() -> None:
    found = dashboards()
    assert len(found) == 4
    assert len({d["uid"] for d in found.values()}) == 4
    for name, dashboard in found.items():
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), name
        assert all(panel["title"] and panel["targets"] for panel in dashboard["panels"]), name


def test_every_panel_and_rule_uses_the_provisioned_data_source() -> None:
    uid = DATASOURCE["uid"]
    assert DATASOURCE["type"] == "influxdb"
    for dashboard in dashboards().values():
        for panel in dashboard["panels"]:
            assert panel["datasource"] == {"type": "influxdb", "uid": uid}, panel["title"]
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
    for rule in RULES:
        sources = {query["datasourceUid"] for query in rule["data"]}
        assert sources == {uid, "__expr__"}, rule["title"]
        assert rule["condition"] in {query["refId"] for query in rule["data"]}


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    provider = load_yaml("dashboards/creature-vis.yaml")["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_contact_point_takes_its_addresses_from_settings() -> None:
    alerting = load_yaml("alerting/contact-points.yaml")
    point = alerting["contactPoints"][0]
    assert alerting["policies"][0]["receiver"] == point["name"]
    settings = {r["type"]: r["settings"] for r in point["receivers"]}
    assert settings["email"]["addresses"] == f"${{{env_name('monitoring', 'alert_email')}}}"
    assert settings["webhook"]["url"] == f"${{{env_name('monitoring', 'alert_webhook_url')}}}"


@pytest.mark.parametrize(("panel", "target"), PANEL_QUERIES)
def test_panel_query_returns_rows(
    influx: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    series = influxql(influx, render(target["query"], dashboard_range()))
    assert values(series), f"{panel['title']}: no rows"


@pytest.mark.parametrize("annotation", ANNOTATIONS)
def test_annotation_query_returns_versions(influx: str, annotation: dict[str, Any]) -> None:
    series = influxql(influx, render(annotation["query"], dashboard_range()))
    columns = series[0]["columns"]
    texts = {row[columns.index(annotation["textColumn"])] for s in series for row in s["values"]}
    assert texts == {"v0001", "v0002", "v0003"}
    assert {s["tags"][annotation["tagsColumn"]] for s in series} == {
        "created",
        "promoted",
        "refused",
    }


def test_the_estimate_is_shown_beside_the_answered_accuracy(influx: str) -> None:
    def measurements(panel: dict[str, Any]) -> set[str]:
        return {m for t in panel["targets"] for m in re.findall(r'FROM "(\w+)"', t["query"])}

    panels = dashboards()["model-performance.json"]["panels"]
    beside = [p for p in panels if {"accuracy_rolling", "accuracy_estimated"} <= measurements(p)]
    assert len(beside) == 1
    found: dict[str, dict[str, list[float]]] = {}
    for target in beside[0]["targets"]:
        for s in influxql(influx, render(target["query"], dashboard_range())):
            for i, column in enumerate(s["columns"][1:], start=1):
                found.setdefault(s["tags"]["model_version"], {})[column] = [
                    row[i] for row in s["values"] if row[i] is not None
                ]
    # Answered accuracy per version (not the 'all' mix), and production's estimate: v0002's
    # seeded predictions have top probabilities 0.5 to 0.9, its ATC threshold is 0.7.
    assert set(found) == {"v0001", "v0002"}
    assert found["v0001"]["last"] and found["v0002"]["last"]
    estimate = found["v0002"]
    assert estimate["CBPE"] == pytest.approx([0.7]) and estimate["ATC"] == pytest.approx([0.6])
    assert estimate["CBPE low"][0] < 0.7 < estimate["CBPE high"][0]
    assert estimate["ATC low"][0] < 0.6 < estimate["ATC high"][0]


def evaluate(rule: dict[str, Any], url: str, database: str = "creature_vis") -> bool:
    """Evaluate a rule as Grafana would: query, reduce, threshold, no-data state."""
    steps = {step["refId"]: step for step in rule["data"]}
    query = steps["A"]
    time_filter = f"time >= now() - {query['relativeTimeRange']['from']}s"
    series = influxql(url, render(query["model"]["query"], time_filter), database)
    numbers = [float(v) for v in values(series)]
    if not numbers:
        return bool(rule["noDataState"] == "Alerting")
    reducer = steps["B"]["model"]["reducer"]
    reduced = {"last": numbers[-1], "sum": sum(numbers)}[reducer]
    evaluator = steps["C"]["model"]["conditions"][0]["evaluator"]
    limit = evaluator["params"][0]
    return bool(reduced < limit if evaluator["type"] == "lt" else reduced > limit)


def test_alert_rules_on_the_exported_data(influx: str) -> None:
    # The seeded answers are two-thirds right, the last prediction was 27 minutes ago, a
    # retrain failed an hour ago and the exporter has just run.
    firing = {rule["uid"]: evaluate(rule, influx) for rule in RULES}
    assert firing == {
        "cv-accuracy-low": True,
        "cv-no-predictions": False,
        "cv-retrain-failed": True,
        "cv-exporter-stale": False,
    }


def test_without_exports_only_the_staleness_alert_fires(influx: str) -> None:
    influxql(influx, "CREATE DATABASE silent", database="")
    firing = {rule["uid"]: evaluate(rule, influx, "silent") for rule in RULES}
    assert firing == {
        "cv-accuracy-low": False,
        "cv-no-predictions": False,
        "cv-retrain-failed": False,
        "cv-exporter-stale": True,
    }


def test_every_rule_query_is_plain_influxql() -> None:
    for rule in RULES:
        query = rule["data"][0]["model"]["query"]
        assert re.match(r"^SELECT .+ FROM \"\w+\" WHERE \$timeFilter", query), rule["title"]
