"""Helpers for the end-to-end diagnosis scenarios: an MCP client on a real `ops-mcp serve --transport stdio`, the
manifests, and the kubelet-only states a test writes itself (status patches, kubelet Events, KWOK logs)."""

from __future__ import annotations

import json
import shlex
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from .fix_invariant import check_report

ROOT = Path(__file__).resolve().parents[2]
KUBELET = "kwok.todo-chatbot.test/kubelet"


@asynccontextmanager
async def ops_client(cluster, namespace: str, tmp_path: Path):
    env = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
    env.update(OPS_MCP_KUBECONFIG=cluster.kubeconfig, OPS_MCP_NAMESPACE=namespace, OPS_MCP_REQUEST_TIMEOUT="8", OPS_MCP_AUDIT_LOG=str(tmp_path / "audit.jsonl"))
    params = StdioServerParameters(command=sys.executable, args=["-m", "ops_mcp.cli", "serve", "--transport", "stdio"], env=env, cwd=str(ROOT))
    async with Client(params, read_timeout_seconds=120) as client:
        yield Diagnoser(client)


class Diagnoser:
    def __init__(self, client: Client):
        self.client = client

    async def call(self, tool: str = "diagnose", **args: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, args)
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        assert not result.is_error, text
        out = result.structured_content
        assert out is not None and out["verdict"] in ("healthy", "degraded", "failing", "unknown")
        assert len(json.dumps(out)) / 4 < 2000, f"over the token budget: {len(json.dumps(out)) / 4:.0f}"
        check_report(out)  # the fix invariant holds on the wire too
        return out

    async def error(self, tool: str = "diagnose", **args: Any) -> str:
        result = await self.client.call_tool(tool, args)
        assert result.is_error, result
        return "\n".join(getattr(c, "text", "") for c in result.content)

    async def until(self, predicate, tool: str = "diagnose", timeout: float = 90, **args: Any) -> dict[str, Any]:
        """Call until the report satisfies `predicate` (controllers and KWOK need a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            out = await self.call(tool, **args)
            if predicate(out):
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"report never satisfied the condition:\n{json.dumps(out, indent=1)[:6000]}")
            await anyio.sleep(1)


def finding(out: dict[str, Any], mode: str) -> dict[str, Any]:
    found = [f for f in out.get("findings", []) if f["mode"] == mode]
    assert found, f"no {mode}; got {[f['mode'] for f in out.get('findings', [])]}: {out.get('summary')}"
    return found[0]


def has(mode: str):
    return lambda out: any(f["mode"] == mode for f in out.get("findings", []))


def healthy(out: dict[str, Any]) -> bool:
    return out["verdict"] == "healthy" and not out.get("findings")


def ev(f: dict[str, Any], path_part: str) -> Any:
    return next(e["v"] for e in f["ev"] if path_part in e.get("p", ""))


def deployment(
    name: str,
    containers: list[dict[str, Any]],
    *,
    replicas: int = 1,
    kubelet: str | None = "manual",
    annotations: dict[str, str] | None = None,
    pod_spec: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    meta_labels: dict[str, str] | None = None,
    meta_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    selector = labels or {"app": name}
    template_labels = dict(selector)
    if kubelet:
        template_labels[KUBELET] = kubelet
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {**selector, **(meta_labels or {})}, "annotations": meta_annotations or {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": template_labels, "annotations": annotations or {}}, "spec": {"containers": containers, **(pod_spec or {})}},
        },
    }


def service(name: str, selector: dict[str, str], port: int = 80, target: int | str = 8080) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target}]}}


def pods(cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    return [p for p in cluster.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"] if not p["metadata"].get("deletionTimestamp")]


def scheduled_pods(cluster, namespace: str, selector: str, n: int = 1) -> list[dict[str, Any]]:
    def ready():
        found = pods(cluster, namespace, selector)
        return found if len(found) == n and all(p["spec"].get("nodeName") for p in found) else None

    return cluster.wait_for(ready, timeout=60, message=f"{n} scheduled pods {selector}")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def patch_status(cluster, namespace: str, pod: dict[str, Any], status: dict[str, Any]) -> None:
    """Write a kubelet-only state (the fake kubelet leaves `manual` pods alone)."""
    cluster.kubectl("patch", "pod", pod["metadata"]["name"], "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


def kubelet_event(cluster, namespace: str, pod: dict[str, Any], reason: str, message: str, *, type_: str = "Warning", count: int = 1) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{pod['metadata']['name']}.{uuid.uuid4().hex[:10]}"},
            "involvedObject": {"kind": "Pod", "apiVersion": "v1", "name": pod["metadata"]["name"], "namespace": namespace, "uid": pod["metadata"]["uid"]},
            "reason": reason,
            "message": message,
            "type": type_,
            "count": count,
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "source": {"component": "kubelet", "host": pod["spec"].get("nodeName", "")},
        },
        namespace,
    )


def crashloop_status(container: str, image: str, *, exit_code: int, reason: str = "Error", message: str | None = None, restarts: int = 3) -> dict[str, Any]:
    terminated: dict[str, Any] = {"exitCode": exit_code, "reason": reason, "startedAt": now(), "finishedAt": now()}
    if message:
        terminated["message"] = message
    return {
        "phase": "Running",
        "podIP": "10.0.0.9",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        ],
        "containerStatuses": [
            {
                "name": container,
                "image": image,
                "imageID": "",
                "ready": False,
                "restartCount": restarts,
                "started": False,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off 40s restarting failed container={container}"}},
                "lastState": {"terminated": terminated},
            }
        ],
    }


def person_template(fix: dict[str, Any]) -> str:
    """The command a fix leaves for a person to fill in (what the cluster does not hold: a secret's value, a file)."""
    note = fix.get("note") or ""
    assert "kubectl" not in fix and "apply" not in fix, f"a template is not a runnable fix: {fix}"
    return note.split("(the cluster does not hold it): `", 1)[1].split("`", 1)[0]


def run_fix(cluster, command: str, **placeholders: str) -> None:
    """Run a suggested kubectl command exactly as the tool printed it (placeholders filled), as an argument list."""
    for key, value in placeholders.items():
        command = command.replace(key, value)
    argv = shlex.split(command)
    assert argv[0] == "kubectl", command
    assert not any(a.startswith("<") and a.endswith(">") for a in argv), f"unfilled placeholder in {command}"
    cluster.kubectl(*argv[1:])


def kubelet_recovers(cluster, namespace: str, deploy: str) -> None:
    """The fixed pods now start: hand the pod template back to KWOK's default (working) kubelet stages."""
    path = "/spec/template/metadata/labels/" + KUBELET.replace("/", "~1")
    cluster.kubectl("patch", "deployment", deploy, "-n", namespace, "--type=json", "-p", json.dumps([{"op": "remove", "path": path}]))
