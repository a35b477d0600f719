"""A drift report as CloudWatch metrics, for the alarms: PutMetricData, or a local file.

Locally (``LOCAL_METRICS_FILE_ENV`` set) the same metric data is appended as JSON lines to a
file, the local runtime's stand-in for CloudWatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.contract import (
    DRIFT_DETECTED_METRIC,
    DRIFT_METRIC_NAMESPACE,
    ENDPOINT_DIMENSION,
    FEATURE_DIMENSION,
    FEATURE_DRIFT_SCORE_METRIC,
    MALFORMED_RECORDS_METRIC,
    MODEL_DIMENSION,
    RECORDS_ANALYZED_METRIC,
    SCHEMA_VIOLATIONS_METRIC,
)

MAX_METRICS_PER_PUT = 1000
"""PutMetricData accepts at most 1000 metric data items per call."""


def cloudwatch_metric_data(
    report: Mapping[str, Any], endpoint: str, model: str, timestamp: datetime | None = None
) -> list[dict[str, Any]]:
    """PutMetricData items of a report: the drift flag, counts, and a score per feature."""
    timestamp = timestamp or datetime.now(UTC)
    dims = [{"Name": ENDPOINT_DIMENSION, "Value": endpoint},
            {"Name": MODEL_DIMENSION, "Value": model}]

    def datum(name: str, value: float, unit: str, extra: list | None = None) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dims + (extra or []), "Timestamp": timestamp,
                "Value": float(value), "Unit": unit}

    data = [
        datum(DRIFT_DETECTED_METRIC, 1.0 if report["drift"] else 0.0, "None"),
        datum(RECORDS_ANALYZED_METRIC, report["records_read"], "Count"),
        datum(MALFORMED_RECORDS_METRIC, report["malformed"]["total"], "Count"),
        datum(SCHEMA_VIOLATIONS_METRIC, len(report["violations"]), "Count"),
    ]
    for feature in report["features"]:
        data.append(datum(FEATURE_DRIFT_SCORE_METRIC, feature["drift_score"], "None",
                          [{"Name": FEATURE_DIMENSION, "Value": feature["name"][:255]}]))
    return data


def publish_metrics(
    cloudwatch_client: Any,
    metric_data: Sequence[Mapping[str, Any]],
    namespace: str = DRIFT_METRIC_NAMESPACE,
    batch_size: int = MAX_METRICS_PER_PUT,
) -> int:
    """PutMetricData in batches within the API's per-call limit; returns the number of calls."""
    calls = 0
    for start in range(0, len(metric_data), batch_size):
        cloudwatch_client.put_metric_data(
            Namespace=namespace, MetricData=list(metric_data[start:start + batch_size])
        )
        calls += 1
    return calls


def write_local_metrics(path: Path, metric_data: Sequence[Mapping[str, Any]]) -> None:
    """Append PutMetricData items (with the namespace) as JSON lines: local CloudWatch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for datum in metric_data:
            out.write(json.dumps({"Namespace": DRIFT_METRIC_NAMESPACE, **datum}, default=str)
                      + "\n")
