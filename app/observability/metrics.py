"""Prometheus metrics, fed by the record stage: one :class:`MetricsSink` per process.

Every label value is bounded: models and carriers come from the config, qualities and
parameters from fixed sets, sizes are reduced to a class, error codes to the gateway's own;
anything else is counted as ``other``. Key and team names are labels only when the operator
opts in (``metrics.label_keys``). Never request ids, prompts or anything a client chose freely.

With ``imagegate serve --workers N`` the values live in prometheus-client's multiprocess files
(``app.observability.multiproc``) and a scrape sums every worker's.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.core.failures import classify_status
from app.domain import UsageRecord
from app.errors import GatewayError
from app.observability.adders import Add, counter_add, histogram_add

# Base units (seconds); image requests run long, so the buckets reach ten minutes.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600)
QUALITIES = frozenset({"low", "medium", "high", "auto", "standard", "hd"})
PARAMETERS = frozenset(
    ("size", "quality", "style", "moderation", "background", "output_format")
    + ("output_compression", "input_fidelity", "n", "partial_images", "response_format")
)
FAILURE_CLASSES = frozenset({"rejected", "carrier", "rate_limited", "transient", "timeout"})
OTHER = "other"
NONE = "none"

_REQUEST = ("endpoint", "mode", "model", "carrier", "outcome", "error")
_IMAGE = ("model", "carrier", "quality", "size_class")


class Metrics:
    """The gateway's metric families, on ``registry`` (one per app: tests read exact values)."""

    def __init__(self, registry: CollectorRegistry, *, label_keys: bool = False) -> None:
        keys = ("key", "team") if label_keys else ()
        self.registry = registry
        self.label_keys = label_keys
        r = registry
        self.requests = Counter(
            "imagegate_requests",
            "Image requests by endpoint, mode and outcome.",
            (*_REQUEST, *keys),
            registry=r,
        )
        self.images = Counter("imagegate_images", "Images returned.", _IMAGE, registry=r)
        self.pixels = Counter(
            "imagegate_output_pixels", "Pixels of the images returned.", _IMAGE, registry=r
        )
        self.bytes = Counter(
            "imagegate_output_bytes",
            "Bytes of the images returned and re-hosted.",
            ("model", "carrier"),
            registry=r,
        )
        self.cost = Counter(
            "imagegate_cost_usd",
            "Cost of the requests, in US dollars.",
            ("model", "carrier", *keys),
            registry=r,
        )
        self.unpriced = Counter(
            "imagegate_unpriced_requests",
            "Successful requests without a price.",
            ("model",),
            registry=r,
        )
        self.duration = Histogram(
            "imagegate_request_duration_seconds",
            "End-to-end duration of image requests.",
            ("endpoint", "model", "outcome"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.attempt_duration = Histogram(
            "imagegate_upstream_attempt_duration_seconds",
            "Duration of each upstream attempt, by carrier, model and result.",
            ("carrier", "model", "result"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "imagegate_retries",
            "Attempts retried on the same carrier, by failure class.",
            ("model", "carrier", "failure_class"),
            registry=r,
        )
        self.fallbacks = Counter(
            "imagegate_fallbacks",
            "Moves to the next carrier after a failure, by failure class.",
            ("model", "from_carrier", "to_carrier", "failure_class"),
            registry=r,
        )
        self.adjustments = Counter(
            "imagegate_param_adjustments",
            "Parameters the gateway adjusted, by parameter.",
            ("model", "parameter"),
            registry=r,
        )
        self.storage_errors = Counter(
            "imagegate_storage_errors", "Images that could not be stored.", (), registry=r
        )
        self.responses = Counter(
            "imagegate_http_responses",
            "HTTP responses by endpoint and status class (refusals included).",
            ("endpoint", "status_class"),
            registry=r,
        )
        self.in_flight = Gauge(
            "imagegate_requests_in_flight",
            "HTTP requests being served.",
            registry=r,
            multiprocess_mode="livesum",
        )
        # Fed after each ledger write that charged a team (``team_budget_left``), only with
        # team labels on. Across workers the most recent write wins: each worker reads the
        # team's spend back from the database right after its own commit, so the latest value
        # counts every worker's charges; "max"/"min" would be wrong across a period rollover,
        # "livemostrecent" would forget a team when the worker that wrote it last exits.
        self.budget_remaining = Gauge(
            "imagegate_budget_remaining_usd",
            "Budget left per team in its current period (budget minus spent), in US dollars.",
            ("team",),
            registry=r,
            multiprocess_mode="mostrecent",
        )

    def team_budget_left(self, team: str, remaining_nanos: int) -> None:
        """A team's budget left, after a charge to it was written (a few times a second)."""
        self.budget_remaining.labels(team).set(remaining_nanos / 1e9)


class MetricsSink:
    """The record stage's metrics sink: a few counter increments per request.

    prometheus-client checks on every ``inc``/``observe`` that the metric is a labelled
    child and the amount is not negative, and a histogram walks its buckets in Python. Here
    each child's adding function is made once per label tuple (labels are bounded), straight
    on the child's value (``app.observability.adders``): the hot path only derives the labels, looks
    them up and adds. The values are prometheus-client's own, so a scrape, in-process or
    summed over workers, reads them as before."""

    def __init__(self, metrics: Metrics, models: Iterable[str], carriers: Iterable[str]) -> None:
        self._m = metrics
        self._models = frozenset(models)
        self._carriers = frozenset(carriers)
        self._label_keys = metrics.label_keys
        self._adders: dict[Key, Add] = {}
        # (model, attempt labels) -> the children those attempts add to; bounded by MAX_PLANS.
        self._plans: dict[tuple[str, tuple[str, ...]], Plan] = {}

    def _add(self, metric: Counter | Histogram, labels: tuple[str, ...]) -> Add:
        """The function adding to the metric's child for these labels, made once: a counter's
        ``inc`` or a histogram's ``observe``."""
        key = (metric, labels)
        add = self._adders.get(key)
        if add is None:
            child = metric.labels(*labels)
            add = histogram_add(child) if isinstance(child, Histogram) else counter_add(child)
            self._adders[key] = add
        return add

    def write(self, record: UsageRecord) -> None:
        m = self._m
        model = record.model if record.model in self._models else OTHER
        carrier = self._carrier(record.carrier)
        endpoint = record.operation
        outcome = record.outcome
        mode = "stream" if record.stream else "async" if record.async_job else "sync"
        error = _error(record.error_code)
        labels: tuple[str, ...] = (endpoint, mode, model, carrier, outcome, error)
        if self._label_keys:
            labels = (*labels, record.principal_name, record.team or NONE)
        self._add(m.requests, labels)(1)
        self._add(m.duration, (endpoint, model, outcome))(record.latency)
        if record.images:
            self._images(record, model, carrier)
        if record.attempts:
            self._attempts(record, model)
        for note in record.adjustments:
            parameter = note.partition(":")[0]
            self._add(m.adjustments, (model, parameter if parameter in PARAMETERS else OTHER))(1)
        if record.storage_errors:
            m.storage_errors.inc(record.storage_errors)

    def _images(self, record: UsageRecord, model: str, carrier: str) -> None:
        m = self._m
        quality = record.quality if record.quality in QUALITIES else OTHER
        labels = (model, carrier, quality, size_class(record.pixels, record.images))
        self._add(m.images, labels)(record.images)
        if record.pixels:
            self._add(m.pixels, labels)(record.pixels)
        self._add(m.bytes, (model, carrier))(record.output_bytes)
        if record.replay:
            return
        if record.cost_nanos is None:
            self._add(m.unpriced, (model,))(1)
            return
        cost: tuple[str, ...] = (model, carrier)
        if self._label_keys:
            cost = (*cost, record.principal_name, record.team or NONE)
        self._add(m.cost, cost)(record.cost_nanos / 1e9)  # USD: a float is fine here

    def _attempts(self, record: UsageRecord, model: str) -> None:
        seconds = record.attempt_seconds
        key = (model, record.attempts)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(*key)
            if len(self._plans) < MAX_PLANS:
                self._plans[key] = plan
        adders, add = self._adders, self._add
        for index, (duration, then) in enumerate(plan):
            if index < len(seconds):
                (adders.get(duration) or add(*duration))(seconds[index])
            if then is not None:
                (adders.get(then) or add(*then))(1)

    def _plan(self, model: str, labels: tuple[str, ...]) -> Plan:
        """Per attempt: its duration's (histogram, labels), and the retry or fallback
        (counter, labels) its failure adds to, None after a success or the last attempt."""
        m = self._m
        attempts = [label.rpartition(":") for label in labels]
        plan: list[tuple[Key, Key | None]] = []
        for index, (name, _, outcome) in enumerate(attempts):
            carrier = self._carrier(name)
            failure = _failure_class(outcome)
            duration: Key = (m.attempt_duration, (carrier, model, failure or "ok"))
            then: Key | None = None
            if failure is not None and index + 1 < len(attempts):
                following = self._carrier(attempts[index + 1][0])
                if following == carrier:
                    then = (m.retries, (model, carrier, failure))
                else:
                    then = (m.fallbacks, (model, carrier, following, failure))
            plan.append((duration, then))
        return tuple(plan)

    def _carrier(self, name: str | None) -> str:
        if name is None:
            return NONE
        return name if name in self._carriers else OTHER


Key = tuple[Counter | Histogram, tuple[str, ...]]
Plan = tuple[tuple[Key, Key | None], ...]
# Attempt labels are carrier names and outcomes (status codes, failure classes): few distinct
# sequences in practice; past this many, a sequence is worked out each time, not kept.
MAX_PLANS = 4096


def size_class(pixels: int | None, images: int) -> str:
    """The size of one image as a class: small (< 0.6 MP), medium (up to 1.1 MP, e.g.
    1024x1024), large (up to 2.5 MP, e.g. 1536x1024), xlarge; ``other`` when unknown."""
    if not pixels or not images:
        return OTHER
    each = pixels // images
    if each < 600_000:
        return "small"
    if each <= 1_100_000:
        return "medium"
    return "large" if each <= 2_500_000 else "xlarge"


def _failure_class(outcome: str) -> str | None:
    """None for a success; else the failure class of an attempt label's outcome."""
    if outcome == "200":
        return None
    if outcome.isdigit():
        return classify_status(int(outcome))
    return outcome if outcome in FAILURE_CLASSES else OTHER


def _codes(error: type[GatewayError]) -> Iterable[str]:
    if isinstance(error.code, str):
        yield error.code
    for sub in error.__subclasses__():
        yield from _codes(sub)


# The gateway's own error codes may be labels; an upstream's own codes count as ``other``.
_ERRORS = frozenset((*_codes(GatewayError), "cancelled", "client_gone"))


def _error(code: str | None) -> str:
    if code is None:
        return NONE
    return code if code in _ERRORS else OTHER
