"""Optional OpenTelemetry traces: a span per request, child spans for its stages.

Off by default. On when ``tracing.enabled`` is true or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``..._TRACES_ENDPOINT``) is set, unless ``OTEL_SDK_DISABLED=true``; the OTLP exporter reads the
standard ``OTEL_*`` variables itself. When off, OpenTelemetry is never imported and
:func:`span` hands out one shared do-nothing object: a function call per stage.

The stages' spans (parse, normalize, attempt, store, record) are children of the request span
without becoming current themselves, so they may enclose ``yield`` in async generators and
still form one flat tree: request -> parse, normalize, attempt x N, store, record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

Attribute = str | int | float | bool


class SpanLike(Protocol):
    def is_recording(self) -> bool: ...

    def set_attribute(self, key: str, value: Attribute) -> None: ...


class _NullSpan:
    __slots__ = ()

    def __enter__(self) -> _NullSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def is_recording(self) -> bool:
        return False

    def set_attribute(self, key: str, value: Attribute) -> None:
        return None


NULL_SPAN = _NullSpan()


def _null(name: str) -> AbstractContextManager[SpanLike]:
    return NULL_SPAN


# The stages call ``tracing.span(name)``: bound to the real thing only while tracing is on.
span: Callable[[str], AbstractContextManager[SpanLike]] = _null
_tracer: Tracer | None = None


def wanted(enabled: bool, env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    return enabled or bool(endpoint)


def enable(provider: TracerProvider | None = None) -> TracerProvider:
    """Turn tracing on: with ``provider`` (tests), else one exporting over OTLP."""
    global span, _tracer
    from opentelemetry.sdk.trace import TracerProvider

    if provider is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "imagegate"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = provider.get_tracer("imagegate")
    span = _child
    return provider


def disable() -> None:
    global span, _tracer
    span, _tracer = _null, None


@contextmanager
def _child(name: str) -> Iterator[SpanLike]:
    """A span under the current one that does not become current itself."""
    assert _tracer is not None
    from opentelemetry.trace import Status, StatusCode

    child = _tracer.start_span(name)
    try:
        yield child
    except BaseException as error:
        child.set_status(Status(StatusCode.ERROR, type(error).__name__))
        raise
    finally:
        child.end()


def request_span(method: str, path: str) -> AbstractContextManager[Any]:
    """The request's own span, made current so every stage's span is its child."""
    assert _tracer is not None
    from opentelemetry.trace import SpanKind

    attributes = {"http.request.method": method, "url.path": path}
    return _tracer.start_as_current_span(
        f"{method} {path}", kind=SpanKind.SERVER, attributes=attributes
    )


def annotate_request(attributes: Mapping[str, Attribute]) -> None:
    """Add attributes to the request's span (no-op when tracing is off)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes(attributes)


def is_on() -> bool:
    return _tracer is not None
