"""Telemetry of the HTTP transport against the real control plane: Prometheus metrics at /metrics (behind the
bearer token) and OpenTelemetry traces exported over OTLP/HTTP by the real SDK to a collector endpoint on loopback."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from ops_helpers import HttpServer, call, deployment, err, http_client, ok, ops_env
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

SECRET = "Sup3r-S3cret-Selector-9931"


class Collector(BaseHTTPRequestHandler):
    """The OTLP/HTTP traces endpoint of a collector: keeps each export request (protobuf) it receives."""

    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            type(self).received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


def spans(bodies: list[bytes]) -> list[tuple[dict, object]]:
    out = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            out += [(resource, span) for scope in resource_spans.scope_spans for span in scope.spans]
    return out


async def test_http_metrics_and_traces_per_tool_call(cluster, namespace, audit_log):
    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    token = "t0ken-for-telemetry-4c2e"
    env = ops_env(
        cluster,
        namespace,
        audit_log,
        OPS_MCP_HTTP_TOKEN=token,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{collector.server_address[1]}/v1/traces",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    cluster.apply(deployment("web", 1), namespace)
    server = HttpServer(env)
    try:
        async with http_client(server.url, token) as c:
            for _ in range(2):
                ok(await call(c, "list_resources", {"kind": "deployments"}))
            assert "not found" in err(await call(c, "describe_resource", {"kind": "deployment", "name": "nope"})).lower()
            ok(await call(c, "list_resources", {"kind": "pods", "label_selector": f"password={SECRET}"}))
        metrics_url = f"http://127.0.0.1:{server.port}/metrics"
        assert httpx.get(metrics_url).status_code == 401  # the same bearer token as /mcp
        response = httpx.get(metrics_url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(response.text) for s in f.samples}
        assert samples[("ops_mcp_tool_calls_total", (("outcome", "ok"), ("tool", "list_resources")))] == 3
        assert samples[("ops_mcp_tool_calls_total", (("outcome", "error"), ("tool", "describe_resource")))] == 1
        assert samples[("ops_mcp_tool_call_duration_seconds_count", (("tool", "list_resources"),))] == 3
        assert samples[("ops_mcp_tool_call_duration_seconds_sum", (("tool", "list_resources"),))] > 0
        assert SECRET not in response.text

        deadline = time.monotonic() + 30
        while len(found := spans(Collector.received)) < 4:
            assert time.monotonic() < deadline, f"{len(found)} spans exported"
            time.sleep(0.2)
    finally:
        server.stop()
        collector.shutdown()
    by_name: dict[str, list] = {}
    for resource, span in found:
        assert resource["service.name"] == "ops-mcp"
        by_name.setdefault(span.name, []).append(span)
    assert len(by_name["tools/call list_resources"]) == 3 and len(by_name["tools/call describe_resource"]) == 1
    failed = by_name["tools/call describe_resource"][0]
    attributes = {a.key: a.value.string_value for a in failed.attributes}
    assert attributes == {"mcp.method.name": "tools/call", "gen_ai.tool.name": "describe_resource", "ops_mcp.tool.kind": "read", "ops_mcp.outcome": "error"}
    assert failed.status.code == 2  # STATUS_CODE_ERROR
    assert all(span.end_time_unix_nano > span.start_time_unix_nano for spans_ in by_name.values() for span in spans_)
    assert not any(SECRET.encode() in body for body in Collector.received)  # arguments never leave in a span
