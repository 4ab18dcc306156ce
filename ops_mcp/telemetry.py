"""Per-call telemetry: Prometheus metrics (served at /metrics on the HTTP transport) and OpenTelemetry traces.

Metrics are on with the HTTP transport (on stdio nobody could scrape them). Traces are on when the standard
OpenTelemetry variables name an OTLP endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT;
the SDK reads the rest: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, ...) and the `otel` extra is installed.
Neither records a tool's arguments or output: only the tool's name, kind, outcome and duration.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

# Latency buckets (seconds): reads take milliseconds, helm and waits take up to minutes.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Metrics:
    """ops_mcp_tool_calls_total{tool,outcome} and ops_mcp_tool_call_duration_seconds{tool} in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.calls = Counter("ops_mcp_tool_calls", "Tool calls by outcome (ok, error, input_required)", ["tool", "outcome"], registry=self.registry)
        self.duration = Histogram("ops_mcp_tool_call_duration_seconds", "Tool call latency", ["tool"], buckets=BUCKETS, registry=self.registry)

    def observe(self, tool: str, outcome: str, seconds: float) -> None:
        self.calls.labels(tool, outcome).inc()
        if outcome != "input_required":  # a call waiting for the user's answer has not finished
            self.duration.labels(tool).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def tracer() -> Any:
    """An OpenTelemetry tracer exporting over OTLP/HTTP, or None when no endpoint is configured."""
    if not (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        print("ops-mcp: an OTLP endpoint is set but OpenTelemetry is not installed (pip install 'ops-mcp[otel]'); no traces", file=sys.stderr)
        return None
    from ops_mcp import __version__

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "ops-mcp"), "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider.get_tracer("ops_mcp")


def outcome_of(result: Any) -> str:
    wire = result.model_dump(by_alias=True, mode="json") if isinstance(result, BaseModel) else (result or {})
    if not isinstance(wire, Mapping):
        return "ok"
    if wire.get("resultType") == "input_required" or "inputRequests" in wire:
        return "input_required"
    return "error" if wire.get("isError") else "ok"


def middleware(kinds: Mapping[str, str], metrics: Metrics | None, trace: Any):
    """Times every tools/call; counts it by outcome and, when tracing, wraps it in a span `tools/call <tool>`."""

    async def telemetry(ctx: Any, call_next: Any) -> Any:
        if ctx.method != "tools/call" or not isinstance(ctx.params, Mapping):
            return await call_next(ctx)
        tool = str(ctx.params.get("name"))
        if tool not in kinds:  # unknown names stay out of the labels (a client could otherwise grow them unbounded)
            return await call_next(ctx)
        start = time.perf_counter()
        span = (
            trace.start_span(f"tools/call {tool}", attributes={"mcp.method.name": "tools/call", "gen_ai.tool.name": tool, "ops_mcp.tool.kind": kinds[tool]})
            if trace
            else None
        )
        outcome = "error"
        try:
            result = await call_next(ctx)
            outcome = outcome_of(result)
            return result
        finally:
            if metrics:
                metrics.observe(tool, outcome, time.perf_counter() - start)
            if span is not None:
                from opentelemetry.trace import Status, StatusCode

                span.set_attribute("ops_mcp.outcome", outcome)
                if outcome == "error":
                    span.set_status(Status(StatusCode.ERROR))
                span.end()

    return telemetry
