"""Traces: an in-memory exporter receives the request's span tree; off, nothing is imported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import respx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.observability import tracing
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.routing import OK, PNG, A, B, two_carriers


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.enable(provider)
    yield memory
    tracing.disable()


async def test_one_request_one_span_tree(
    make_config: MakeConfig, upstream: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    upstream.post(A).respond(500, json={"error": {"message": "boom"}})
    upstream.post(B).mock(return_value=OK)
    config = make_config(two_carriers(retries=0, failures=10))
    async with serve_in_process(config) as client:
        body = {"prompt": "a secret prompt", "size": "1024x1024", "n": 1}
        response = await client.post(
            "/v1/images/generations", json=body, headers={"x-request-id": "tr-1"}
        )
    assert response.status_code == 200, response.text
    spans = exporter.get_finished_spans()
    [root] = [s for s in spans if s.parent is None]
    assert root.name == "POST /v1/images/generations" and root.kind == SpanKind.SERVER
    attributes = dict(root.attributes or {})
    assert attributes["http.response.status_code"] == 200
    assert attributes["imagegate.request_id"] == "tr-1"
    assert attributes["gen_ai.operation.name"] == "generate_content"
    assert attributes["gen_ai.output.type"] == "image"
    assert attributes["gen_ai.request.model"] == "gpt-image-2"
    assert attributes["gen_ai.request.choice.count"] == 1
    assert attributes["imagegate.image.size"] == "1024x1024"
    children = [s for s in spans if s is not root]
    assert all(_parent(s) == root.context.span_id for s in children)
    assert all(s.context.trace_id == root.context.trace_id for s in children)
    names = sorted(s.name for s in children)
    assert names == sorted(
        ["imagegate.parse", "imagegate.normalize", "imagegate.attempt", "imagegate.attempt"]
        + ["imagegate.store", "imagegate.record"]
    )
    attempts = [s for s in children if s.name == "imagegate.attempt"]
    by_carrier = {dict(s.attributes or {})["gen_ai.provider.name"]: s for s in attempts}
    assert by_carrier["a"].status.status_code == StatusCode.ERROR
    assert by_carrier["b"].status.status_code != StatusCode.ERROR
    [store] = [s for s in children if s.name == "imagegate.store"]
    assert dict(store.attributes or {})["imagegate.image.bytes"] == len(PNG)
    [record] = [s for s in children if s.name == "imagegate.record"]
    assert dict(record.attributes or {})["gen_ai.usage.image_count"] == 1
    every_value = " ".join(str(v) for s in spans for v in dict(s.attributes or {}).values())
    assert "secret prompt" not in every_value


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_off_imports_no_opentelemetry() -> None:
    """With tracing off, neither the OpenTelemetry SDK nor an exporter is imported, and every
    stage gets the one shared null span: it costs a function call. (FastAPI itself imports the
    OpenTelemetry *API* for its native telemetry, which stays off without a global provider.)"""
    code = (
        "import sys, app.main, app.cli.serve, app.run.pipeline;"
        "from app.observability import tracing;"
        "assert tracing.span('x') is tracing.NULL_SPAN;"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exp'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
