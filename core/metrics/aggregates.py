"""Aggregates over warehouse tables per time bucket, written once in BigQuery SQL.

Every figure the dashboards show that the warehouse already holds is computed here, so nothing
has to be instrumented twice: predictions and latency from ``interactions``, accuracy and the
confusion of recent answers from ``feedback``, photos from ``images``, retraining from
``retrain_events`` and version annotations from ``model_versions``. A bucket is the start of
its ``@step``-second slot (UTC); windows are ``[@since, @until)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.warehouse import Row, Warehouse
from core.warehouse.records import ANSWERS_THAT_COUNT

_BUCKET = "TIMESTAMP_SECONDS(DIV(UNIX_SECONDS(created_at), @step) * @step)"

PREDICTIONS_SQL = f"""
SELECT {_BUCKET} AS bucket, model_version, channel,
  COUNT(*) AS predictions,
  AVG(latency_ms) AS latency_mean_ms,
  APPROX_QUANTILES(latency_ms, 100)[OFFSET(50)] AS latency_p50_ms,
  APPROX_QUANTILES(latency_ms, 100)[OFFSET(99)] AS latency_p99_ms
FROM interactions
WHERE created_at >= @since AND created_at < @until
GROUP BY bucket, model_version, channel
ORDER BY bucket, model_version, channel
"""  # noqa: S608  (a constant, no user input)

# Answers that count (the latest per interaction and user), by the bucket of the answer.
ANSWERS_SQL = f"""
WITH effective AS (
  SELECT * FROM {ANSWERS_THAT_COUNT} AS f WHERE f.created_at >= @since
)
SELECT {_BUCKET} AS bucket,
  COALESCE(model_version, 'unknown') AS version,
  label, COALESCE(predicted_label, 'unknown') AS predicted,
  COUNT(*) AS answered, COUNTIF(is_correct) AS correct
FROM effective
GROUP BY bucket, version, label, predicted
ORDER BY bucket, version, label, predicted
"""  # noqa: S608

# Answers in the window plus each version's latest @window before it (enough for the rolling
# accuracy of every version and of all versions together), oldest first.
RECENT_ANSWERS_SQL = f"""
WITH effective AS (
  SELECT created_at, feedback_id, is_correct, COALESCE(model_version, 'unknown') AS version
  FROM {ANSWERS_THAT_COUNT} AS f
)
SELECT created_at, feedback_id, is_correct, version
FROM effective
WHERE created_at >= @since
   OR feedback_id IN (
     SELECT feedback_id FROM effective WHERE created_at < @since
     QUALIFY ROW_NUMBER() OVER (
       PARTITION BY version ORDER BY created_at DESC, feedback_id DESC) <= @window)
ORDER BY created_at, feedback_id
"""  # noqa: S608

IMAGES_SQL = f"""
SELECT {_BUCKET} AS bucket, COALESCE(source, 'unknown') AS origin, COUNT(*) AS images
FROM images
WHERE created_at >= @since AND created_at < @until
GROUP BY bucket, origin
ORDER BY bucket, origin
"""  # noqa: S608

# Checks that fired keep their rule; checks that did not are grouped under "none", since
# their "why not" texts would make a new series each.
RETRAIN_SQL = f"""
SELECT {_BUCKET} AS bucket, kind,
  IF(kind = 'check' AND NOT COALESCE(fired, FALSE), 'none', COALESCE(rule, 'none')) AS rule_tag,
  COUNT(*) AS events, COUNTIF(COALESCE(fired, FALSE)) AS fires
FROM retrain_events
WHERE created_at >= @since AND created_at < @until
GROUP BY bucket, kind, rule_tag
ORDER BY bucket, kind, rule_tag
"""  # noqa: S608

MODEL_VERSIONS_SQL = """
SELECT created_at, version, status, accuracy, average_accuracy, backward_transfer, reason
FROM model_versions
WHERE created_at >= @since AND created_at < @until
ORDER BY created_at, version, status
"""

PREDICTION_COUNT_SQL = """
SELECT COUNT(*) AS predictions FROM interactions
WHERE created_at >= @since AND created_at < @until
"""


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[since, until)`` cut into ``step``-second buckets."""

    since: dt.datetime
    until: dt.datetime
    step: int

    def params(self) -> dict[str, Any]:
        """Query parameters for the SQL above."""
        return {"since": self.since, "until": self.until, "step": self.step}

    def buckets(self) -> list[dt.datetime]:
        """Start of every bucket that overlaps the window."""
        first = floor_time(self.since, self.step)
        count = max(0, -(-int((self.until - first).total_seconds()) // self.step))
        return [first + dt.timedelta(seconds=i * self.step) for i in range(count)]


def floor_time(when: dt.datetime, step: int) -> dt.datetime:
    """Start of the ``step``-second bucket that holds ``when`` (UTC)."""
    seconds = int(when.timestamp()) // step * step
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def predictions(warehouse: Warehouse, window: Window) -> list[Row]:
    """Predictions and latency per bucket, model version and channel."""
    return warehouse.query(PREDICTIONS_SQL, window.params())


def answers(warehouse: Warehouse, window: Window) -> list[Row]:
    """Effective answers per bucket, model version, true label and predicted label."""
    return warehouse.query(ANSWERS_SQL, window.params())


def recent_answers(warehouse: Warehouse, window: Window, size: int) -> list[Row]:
    """Answers in the window plus the ``size`` before it, oldest first."""
    return warehouse.query(
        RECENT_ANSWERS_SQL, {"since": window.since, "until": window.until, "window": size}
    )


def images(warehouse: Warehouse, window: Window) -> list[Row]:
    """Stored photos per bucket and source."""
    return warehouse.query(IMAGES_SQL, window.params())


def retrain_events(warehouse: Warehouse, window: Window) -> list[Row]:
    """Retrain events per bucket, kind and rule."""
    return warehouse.query(RETRAIN_SQL, window.params())


def model_versions(warehouse: Warehouse, window: Window) -> list[Row]:
    """Model version life events in the window, one row each."""
    return warehouse.query(MODEL_VERSIONS_SQL, {"since": window.since, "until": window.until})


def prediction_count(warehouse: Warehouse, since: dt.datetime, until: dt.datetime) -> int:
    """Number of predictions shown in ``[since, until)``."""
    rows = warehouse.query(PREDICTION_COUNT_SQL, {"since": since, "until": until})
    return int(rows[0]["predictions"]) if rows else 0
