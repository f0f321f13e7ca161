"""The process's metrics, kept by prometheus-client and rendered in the Prometheus text format.

One `Metrics` instance is made per process and passed to the web app and the workers (no
module-level registry, nothing at import time). Counts add up across processes in one of two
ways, both prometheus-client's own:

- one exporter per process: without `PROMETHEUS_MULTIPROC_DIR`, `render()` gives this process's
  counts, and Prometheus scrapes each process (each web replica's `/metrics`) and sums them with
  `sum by (...)`;
- multiprocess mode: with `PROMETHEUS_MULTIPROC_DIR` naming an empty, writable folder shared by
  the processes of one machine (`tierbot serve` and `tierbot worker` on one GPU box, or several
  processes in one container), every process writes its values to memory-mapped files there and
  `render()` gives their sum, so the web server's `/metrics` also shows the workers' jobs,
  reviews, tokens and dollars. The variable must be set before the process starts
  (prometheus-client reads it when it is imported) and the folder emptied when the group of
  processes is deployed afresh (a tmpfs, an `emptyDir`, systemd's `/run`).

The format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
(content type `text/plain; version=0.0.4`). Every method is thread-safe, because workers may
count from threads (`asyncio.to_thread`) while `/metrics` renders. Counters also get
prometheus-client's `*_created` series in one-process mode.

The metric names other modules use are the constants below, so that dashboards have one
vocabulary; each has its help text in `HELP`.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Mapping
from typing import Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that turns on prometheus-client's multiprocess mode."""

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
MODEL_SECONDS = "tierbot_model_seconds"  # tier; one review's requests on a tier
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
    MODEL_SECONDS: "Time a tier took over one review (its requests, run concurrently), by tier.",
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
_Metric = Counter | Gauge | Histogram
_M = TypeVar("_M", Counter, Gauge, Histogram)
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NO_LABELS: Mapping[str, str] = {}


class Metrics:
    """Counters, gauges and histograms by name and labels; `render()` gives the text format.

    A name keeps the kind and the label names it was first used with (using it as another kind,
    or with other label names, is a ValueError: a bug in the caller). Counter names end in
    `_total`; counters only go up; histograms use one fixed bucket ladder. With
    `PROMETHEUS_MULTIPROC_DIR` set, `render()` sums every process writing to that folder and
    gauges show the value most recently set by any of them; `value()` is always this process's.
    """

    def __init__(self, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        if list(buckets) != sorted(set(buckets)) or not all(math.isfinite(b) for b in buckets):
            raise ValueError("buckets must be finite and strictly increasing")
        self._buckets = buckets
        self._folder = _multiprocess_folder()
        self._lock = threading.Lock()
        self._registry = CollectorRegistry(auto_describe=False)
        self._kinds: dict[str, Kind] = {}
        self._help: dict[str, str] = dict(HELP)
        self._metrics: dict[str, _Metric] = {}
        # By kind, so that counting is one dict lookup once a metric is made.
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self._histograms: dict[str, Histogram] = {}
        self._children: dict[tuple[str, tuple[tuple[str, str], ...]], _Metric] = {}

    @property
    def multiprocess_dir(self) -> str | None:
        """The folder whose processes `render()` sums, None when it renders this process alone."""
        return self._folder

    def describe(self, name: str, help_text: str) -> None:
        """Set the `# HELP` text of a metric that is not one of the names above (before its
        first use)."""
        with self._lock:
            self._help[name] = help_text

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        """Add `value` (>= 0) to a counter."""
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"a counter only goes up by a finite amount, not {value!r}")
        metric = self._counters.get(name)
        if metric is None:
            made = self._make(name, "counter", labels)
            assert isinstance(made, Counter)
            metric = made
        (self._child(metric, name, labels) if labels else metric).inc(value)

    def set_gauge(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        """Set a gauge to `value`."""
        metric = self._gauges.get(name)
        if metric is None:
            made = self._make(name, "gauge", labels)
            assert isinstance(made, Gauge)
            metric = made
        (self._child(metric, name, labels) if labels else metric).set(value)

    def observe(self, name: str, labels: Mapping[str, str] | None, seconds: float) -> None:
        """Record one observation (a duration in seconds) in a histogram."""
        metric = self._histograms.get(name)
        if metric is None:
            made = self._make(name, "histogram", labels)
            assert isinstance(made, Histogram)
            metric = made
        (self._child(metric, name, labels) if labels else metric).observe(seconds)

    def _child(self, metric: _M, name: str, labels: Mapping[str, str]) -> _M:
        """The metric's child for these label values, remembered by (name, labels), so that a
        series counted again costs one dict lookup (prometheus-client's `labels()` is slower)."""
        key = (name, tuple(labels.items()))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child  # type: ignore[return-value]

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A counter's or gauge's current value in this process (0 when never set); for tests
        and reports."""
        found = self._registry.get_sample_value(name, dict(labels or _NO_LABELS))
        return 0.0 if found is None else found

    def render(self) -> str:
        """Every metric in the Prometheus text format (of every process writing to the
        multiprocess folder, when there is one), ending with a newline; empty when none."""
        if self._folder is None:
            return generate_latest(self._registry).decode()
        merged = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(merged, self._folder)  # type: ignore[no-untyped-call]
        return generate_latest(merged).decode()

    def _make(self, name: str, kind: Kind, labels: Mapping[str, str] | None) -> _Metric:
        """The metric named `name`, made on its first use with these labels' names."""
        with self._lock:
            known = self._kinds.get(name)
            if known is not None:
                if known != kind:
                    raise ValueError(f"metric {name} is a {known}, not a {kind}")
                return self._metrics[name]
            if not _NAME.fullmatch(name):
                raise ValueError(f"not a Prometheus metric name: {name!r}")
            if kind == "counter" and not name.endswith("_total"):
                raise ValueError(f"a counter's metric name ends in _total: {name!r}")
            names = sorted(labels or _NO_LABELS)
            for label in names:
                if not _LABEL.fullmatch(label) or label.startswith("__") or label == "le":
                    raise ValueError(f"not a usable Prometheus label name: {label!r}")
            text = self._help.get(name, name)
            metric: _Metric
            if kind == "counter":
                metric = Counter(name, text, names, registry=self._registry)
            elif kind == "gauge":
                # Every replica reads the same queue: the latest reading, not a sum.
                mode: Literal["mostrecent"] = "mostrecent"
                metric = Gauge(name, text, names, registry=self._registry, multiprocess_mode=mode)
            else:
                metric = Histogram(
                    name, text, names, registry=self._registry, buckets=self._buckets
                )
            self._kinds[name] = kind
            self._metrics[name] = metric
            if isinstance(metric, Counter):
                self._counters[name] = metric
            elif isinstance(metric, Gauge):
                self._gauges[name] = metric
            else:
                self._histograms[name] = metric
            return metric


def _multiprocess_folder() -> str | None:
    """`PROMETHEUS_MULTIPROC_DIR` when set (an existing folder), None otherwise; an error when
    it was set after prometheus-client chose how to keep values, which would lose counts."""
    folder = os.environ.get(MULTIPROC_DIR) or None
    in_files = prometheus_values.ValueClass is not prometheus_values.MutexValue
    if (folder is not None) != in_files:
        raise RuntimeError(
            f"{MULTIPROC_DIR} must be set before the process starts, not changed while it runs"
        )
    if folder is not None and not os.path.isdir(folder):
        raise ValueError(f"{MULTIPROC_DIR}={folder} is not a folder")
    return folder
