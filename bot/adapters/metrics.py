"""A tiny in-process metrics registry that renders the Prometheus text exposition format.

Why not `prometheus_client`: tierbot needs counters, gauges and fixed-bucket histograms with a
few labels, served by its own Starlette app; a registry instance passed to whoever counts (no
module-level globals, nothing at import time) is about a hundred lines and no new dependency.

The format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
(content type `text/plain; version=0.0.4`). One `Metrics` instance is made per process and
passed to the web app and the workers; every method is thread-safe, because workers may count
from threads (`asyncio.to_thread`) while `/metrics` renders.

The metric names other modules use are the constants below, so that dashboards have one
vocabulary; each has its help text in `HELP`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The names, with the labels each is meant to carry.
WEBHOOKS = "tierbot_webhooks_total"  # event, result
WEBHOOK_SECONDS = "tierbot_webhook_seconds"  # event; time to answer a delivery
QUEUE_JOBS = "tierbot_queue_jobs"  # state; set from the queue when /metrics is read
JOBS = "tierbot_jobs_total"  # kind, outcome
JOB_SECONDS = "tierbot_job_seconds"  # kind
REVIEWS = "tierbot_reviews_total"  # tier
TOKENS = "tierbot_model_tokens_total"  # tier, kind (input, output, cache_read, cache_write)
DOLLARS = "tierbot_spend_usd_total"  # tier
BASELINE_DOLLARS = "tierbot_baseline_usd_total"  # what the all-frontier review would have cost
MODEL_SECONDS = "tierbot_model_request_seconds"  # tier
CAPPED = "tierbot_capped_total"  # work (review, command), scope (author, repo)

HELP: dict[str, str] = {
    WEBHOOKS: "Webhook deliveries received, by event and result.",
    WEBHOOK_SECONDS: "Time to answer a webhook delivery.",
    QUEUE_JOBS: "Jobs in the queue, by state.",
    JOBS: "Jobs finished, by kind and outcome.",
    JOB_SECONDS: "Time to run a job, by kind.",
    REVIEWS: "Reviews posted, by tier.",
    TOKENS: "Model tokens, by tier and kind.",
    DOLLARS: "Model spend in US dollars, by tier.",
    BASELINE_DOLLARS: "What all-frontier reviews of the same work would have cost, in US dollars.",
    MODEL_SECONDS: "Time of one model request, by tier.",
    CAPPED: "Work by accounts without write access refused by an hourly cap, by work and scope.",
}

# Seconds: a webhook answer takes milliseconds, a review minutes; one ladder covers both.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)

Kind = Literal["counter", "gauge", "histogram"]
_Key = tuple[tuple[str, str], ...]
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class _Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets  # per bucket, not cumulative; summed when rendered
        self.count = 0
        self.total = 0.0


class Metrics:
    """Counters, gauges and histograms by name and labels; `render()` gives the text format.

    A name keeps the kind it was first used with (using it as another kind is a ValueError, a
    bug in the caller). Counters only go up; histograms use one fixed bucket ladder.
    """

    def __init__(self, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        if list(buckets) != sorted(set(buckets)) or not all(math.isfinite(b) for b in buckets):
            raise ValueError("buckets must be finite and strictly increasing")
        self._buckets = buckets
        self._lock = threading.Lock()
        self._kinds: dict[str, Kind] = {}
        self._help: dict[str, str] = dict(HELP)
        self._values: dict[str, dict[_Key, float]] = {}
        self._histograms: dict[str, dict[_Key, _Histogram]] = {}

    def describe(self, name: str, help_text: str) -> None:
        """Set the `# HELP` text of a metric that is not one of the names above."""
        with self._lock:
            self._help[name] = help_text

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        """Add `value` (>= 0) to a counter."""
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"a counter only goes up by a finite amount, not {value!r}")
        key = self._key(name, labels)
        with self._lock:
            self._claim(name, "counter")
            series = self._values.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def set_gauge(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        """Set a gauge to `value`."""
        key = self._key(name, labels)
        with self._lock:
            self._claim(name, "gauge")
            self._values.setdefault(name, {})[key] = value

    def observe(self, name: str, labels: Mapping[str, str] | None, seconds: float) -> None:
        """Record one observation (a duration in seconds) in a histogram."""
        key = self._key(name, labels)
        with self._lock:
            self._claim(name, "histogram")
            series = self._histograms.setdefault(name, {})
            histogram = series.get(key)
            if histogram is None:
                histogram = series[key] = _Histogram(len(self._buckets))
            for index, bound in enumerate(self._buckets):
                if seconds <= bound:
                    histogram.counts[index] += 1
                    break
            histogram.count += 1
            histogram.total += seconds

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A counter's or gauge's current value (0 when never set); for tests and reports."""
        key = self._key(name, labels)
        with self._lock:
            return self._values.get(name, {}).get(key, 0.0)

    def render(self) -> str:
        """Every metric in the Prometheus text format, names sorted, ending with a newline."""
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._kinds):
                kind = self._kinds[name]
                if name in self._help:
                    lines.append(f"# HELP {name} {_escape_help(self._help[name])}")
                lines.append(f"# TYPE {name} {kind}")
                if kind == "histogram":
                    for key, histogram in sorted(self._histograms.get(name, {}).items()):
                        lines.extend(self._histogram_lines(name, key, histogram))
                else:
                    for key, number in sorted(self._values.get(name, {}).items()):
                        lines.append(f"{name}{_labels(key)} {_number(number)}")
        return "\n".join(lines) + "\n" if lines else ""

    def _histogram_lines(self, name: str, key: _Key, histogram: _Histogram) -> list[str]:
        lines = []
        cumulative = 0
        for bound, count in zip(self._buckets, histogram.counts, strict=True):
            cumulative += count
            le = (*key, ("le", _number(bound)))
            lines.append(f"{name}_bucket{_labels(le)} {cumulative}")
        lines.append(f"{name}_bucket{_labels((*key, ('le', '+Inf')))} {histogram.count}")
        lines.append(f"{name}_sum{_labels(key)} {_number(histogram.total)}")
        lines.append(f"{name}_count{_labels(key)} {histogram.count}")
        return lines

    def _claim(self, name: str, kind: Kind) -> None:
        known = self._kinds.setdefault(name, kind)
        if known != kind:
            raise ValueError(f"metric {name} is a {known}, not a {kind}")

    @staticmethod
    def _key(name: str, labels: Mapping[str, str] | None) -> _Key:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a Prometheus metric name: {name!r}")
        if not labels:
            return ()
        for label in labels:
            if not _LABEL.fullmatch(label) or label.startswith("__") or label == "le":
                raise ValueError(f"not a usable Prometheus label name: {label!r}")
        return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _labels(key: _Key) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{k}="{_escape_value(v)}"' for k, v in key) + "}"


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
