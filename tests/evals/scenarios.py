"""Scenario evals: the todo-chatbot chart broken in one way, a question in plain language, and a check.

Each scenario installs the real chart into a namespace of the test control plane, breaks it the way a
person would (a values typo, a missing Secret key, a patched Service), plays the kubelet-only part of
the failure (status and events the fake nodes cannot produce), and asks the `ops-mcp ask` agent. Two
model runners use the same scenarios: a scripted one (a local Messages API server replaying `plan`,
whose final answer is composed from the tools' real output) that runs in CI, and a real model when
ANTHROPIC_API_KEY is set (bench/evals.py). The check reads the answer and the cluster afterwards.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cluster.harness import ROOT, Cluster
from diagnosis.scenario_helpers import kubelet_event, patch_status, scheduled_pods
from ops.ops_helpers import stdio_client
from support.messages_api import MessagesAPIServer, RecordedRequest, text, tool_use

CHART = ROOT / "k8s" / "helm" / "todo-chatbot"
RELEASE = "todo-chatbot"
BACKEND = f"{RELEASE}-backend"
KUBELET = "kwok.todo-chatbot.test/kubelet"  # see tests/cluster/README.md


def backend_values(**values: Any) -> dict[str, Any]:
    return {"backend": values}


Check = Callable[[Cluster, str, str], "str | None"]  # (cluster, namespace, answer) -> failure reason or None


@dataclass
class Scenario:
    name: str
    prompt: str
    values: dict[str, Any] = field(default_factory=dict)  # chart values that break the release
    after_install: Callable[[Cluster, str], None] = lambda cluster, ns: None
    plan: list[Any] = field(default_factory=list)  # scripted model turns
    check: Check = lambda cluster, ns, answer: None
    writes: bool = False  # run with --yes


@dataclass
class EvalResult:
    scenario: str
    passed: bool
    reason: str
    tool_calls: int
    tool_output_tokens: int
    total_tokens: int
    answer: str


# -- the scripted model's final turn: an answer composed from the last tool result ------------------


def answer_from_findings(request: RecordedRequest):
    """Summarise the last diagnosis the way a careful model would: root cause, evidence, fix."""
    report = json.loads(request.tool_results()[-1]["content"])
    roots = [f for f in report.get("findings", []) if not f.get("caused_by")] or report.get("findings", [])
    if not roots:
        return text(f"Nothing is failing: {report.get('summary', '')}")
    top = roots[0]
    fix = (top.get("fix") or {}).get("kubectl", "")
    return text(f"Root cause ({top['mode']}, {', '.join(top['objs'])}): {top['cause']['text']} Fix: {fix}")


def answer_from_status(request: RecordedRequest):
    return text("Done: " + " / ".join(json.dumps(r["content"])[:300] for r in request.tool_results()))


# -- kubelet-only parts of the failures ----------------------------------------------------------


def backend_pods(cluster: Cluster, ns: str) -> list[dict[str, Any]]:
    return scheduled_pods(cluster, ns, f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=backend")


def image_pull_fails(cluster: Cluster, ns: str) -> None:
    for pod in backend_pods(cluster, ns):
        image = pod["spec"]["containers"][0]["image"]
        message = f'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/{image}": not found'
        patch_status(
            cluster,
            ns,
            pod,
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "backend",
                        "image": image,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}},
                    }
                ],
            },
        )
        kubelet_event(cluster, ns, pod, "Failed", f'Failed to pull image "{image}": {message}', count=4)
        kubelet_event(cluster, ns, pod, "BackOff", f'Back-off pulling image "{image}"', type_="Normal", count=6)


def readiness_fails(cluster: Cluster, ns: str) -> None:
    for pod in backend_pods(cluster, ns):
        ip = "10.0.0.9"
        patch_status(
            cluster,
            ns,
            pod,
            {
                "phase": "Running",
                "podIP": ip,
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                    {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                ],
                "containerStatuses": [
                    {
                        "name": "backend",
                        "image": pod["spec"]["containers"][0]["image"],
                        "imageID": "",
                        "ready": False,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                    }
                ],
            },
        )
        kubelet_event(
            cluster, ns, pod, "Unhealthy", f'Readiness probe failed: Get "http://{ip}:8081/ready": dial tcp {ip}:8081: connect: connection refused', count=12
        )


def secret_without_database_url(cluster: Cluster, ns: str) -> None:
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "todo-secrets",
        "-n",
        ns,
        f"--from-literal=BETTER_AUTH_SECRET={secrets.token_urlsafe(32)}",
        f"--from-literal=OPS_MCP_HTTP_TOKEN={secrets.token_urlsafe(32)}",
    )


def config_error(cluster: Cluster, ns: str) -> None:
    for pod in backend_pods(cluster, ns):
        patch_status(
            cluster,
            ns,
            pod,
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "backend",
                        "image": pod["spec"]["containers"][0]["image"],
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {
                            "waiting": {"reason": "CreateContainerConfigError", "message": f"couldn't find key DATABASE_URL in Secret {ns}/todo-secrets"}
                        },
                    }
                ],
            },
        )


def break_service_selector(cluster: Cluster, ns: str) -> None:
    cluster.kubectl("patch", "service", BACKEND, "-n", ns, "--type=merge", "-p", json.dumps({"spec": {"selector": {"app.kubernetes.io/component": "api"}}}))


# -- checks ----------------------------------------------------------------------------------------


def mentions(*words: str) -> Check:
    def check(cluster: Cluster, ns: str, answer: str) -> str | None:
        missing = [w for w in words if w.lower() not in answer.lower()]
        return f"the answer does not mention {missing}" if missing else None

    return check


def backend_available(cluster: Cluster, ns: str, answer: str) -> str | None:
    def available() -> int:
        deploy = json.loads(cluster.kubectl("get", "deploy", BACKEND, "-n", ns, "-o", "json").stdout)
        return deploy.get("status", {}).get("availableReplicas", 0)

    try:
        cluster.wait_for(lambda: available() >= 1, timeout=60, message="an available backend replica")
    except TimeoutError:
        return "the backend has no available replica"
    return None


SCENARIOS = [
    Scenario(
        "missing-secret-key",
        "Why is the backend failing?",
        values={"secrets": {"existingSecret": "todo-secrets"}, **backend_values(podLabels={KUBELET: "manual"})},
        after_install=config_error,
        plan=[tool_use("get_app_status", {}), tool_use("diagnose", {"kind": "deployment", "name": BACKEND}), answer_from_findings],
        check=mentions("DATABASE_URL", "todo-secrets"),
    ),
    Scenario(
        "image-tag-typo",
        "The backend pods never start. What is wrong?",
        values=backend_values(image={"tag": "0.1.O"}, podLabels={KUBELET: "manual"}),
        after_install=image_pull_fails,
        plan=[tool_use("diagnose_crashloop", {"kind": "deployment", "name": BACKEND}), answer_from_findings],
        check=mentions("0.1.O"),
    ),
    Scenario(
        "readiness-probe-wrong-port",
        "The backend is running but gets no traffic. Why?",
        values=backend_values(readinessProbe={"httpGet": {"port": 8081}}, podLabels={KUBELET: "manual"}),
        after_install=readiness_fails,
        plan=[tool_use("diagnose", {"kind": "deployment", "name": BACKEND}), answer_from_findings],
        check=mentions("8081", "readiness"),
    ),
    Scenario(
        "crashloop-oom",
        "Why does the backend keep restarting?",
        values=backend_values(
            podLabels={KUBELET: "crashloop"}, podAnnotations={"kwok.todo-chatbot.test/exit-code": "137", "kwok.todo-chatbot.test/reason": "OOMKilled"}
        ),
        plan=[tool_use("diagnose_crashloop", {"kind": "deployment", "name": BACKEND}), answer_from_findings],
        check=mentions("memory"),
    ),
    Scenario(
        "service-selector-mismatch",
        "The frontend cannot reach the backend Service. What is wrong?",
        after_install=break_service_selector,
        plan=[tool_use("diagnose", {"kind": "service", "name": BACKEND}), answer_from_findings],
        check=mentions("selector"),
    ),
    Scenario(
        "scaled-to-zero",
        "The todo app's API is down. Bring it back with one replica.",
        values=backend_values(replicaCount=0),
        plan=[tool_use("get_app_status", {}), tool_use("scale_deployment", {"name": BACKEND, "replicas": 1, "wait": True}), answer_from_status],
        check=backend_available,
        writes=True,
    ),
]


def install(cluster: Cluster, ns: str, scenario: Scenario, workdir: Path) -> None:
    values: dict[str, Any] = {"postgresql": {"persistence": {"enabled": False}}, **scenario.values}
    if "secrets" in values:
        secret_without_database_url(cluster, ns)
    else:
        values["secrets"] = {"betterAuthSecret": secrets.token_urlsafe(32)}
    values_file = workdir / f"{scenario.name}-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    cluster.helm("install", RELEASE, str(CHART), "-n", ns, "-f", str(values_file), "--timeout", "120s")
    scenario.after_install(cluster, ns)


async def run(cluster: Cluster, ns: str, scenario: Scenario, workdir: Path, *, scripted: bool = True) -> EvalResult:
    """Install and break, then ask; scripted=True replays `plan` on a local Messages API server."""
    import anthropic

    from ops_mcp.ask import DEFAULT_MODEL, AskError, ask

    install(cluster, ns, scenario, workdir)
    env = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
    env.update(OPS_MCP_NAMESPACE=ns, OPS_MCP_AUDIT_LOG=str(workdir / "audit.jsonl"), OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm"))
    api = MessagesAPIServer().start() if scripted else None
    model = anthropic.AsyncAnthropic(api_key="scripted", base_url=api.base_url, max_retries=0) if api else anthropic.AsyncAnthropic()
    steps = io.StringIO()
    try:
        if api:
            api.script(*scenario.plan)
        async with model, stdio_client(env) as client:  # the suite's ops-mcp (forked after its imports; ops_helpers)
            result = await ask(
                scenario.prompt, client=client, anthropic_client=model, yes=scenario.writes, out=steps, model=os.environ.get("ANTHROPIC_MODEL", DEFAULT_MODEL)
            )
    except AskError as exc:
        return EvalResult(scenario.name, False, str(exc), 0, 0, 0, "")
    finally:
        if api:
            api.stop()
    failure = scenario.check(cluster, ns, result.answer)
    if api and api.remaining:
        failure = failure or f"the agent stopped with {api.remaining} scripted turn(s) unused:\n{steps.getvalue()}"
    return EvalResult(
        scenario.name,
        failure is None,
        failure or "ok",
        len([s for s in result.steps if not s.skipped]),
        result.tool_output_tokens,
        result.input_tokens + result.output_tokens,
        result.answer,
    )


def report(results: list[EvalResult], out=sys.stdout) -> None:
    out.write(f"{'scenario':<28} {'result':<6} {'tools':>5} {'tool-out tok':>12} {'total tok':>9}\n")
    for r in results:
        out.write(f"{r.scenario:<28} {'pass' if r.passed else 'FAIL':<6} {r.tool_calls:>5} {r.tool_output_tokens:>12} {r.total_tokens:>9}\n")
    passed = sum(r.passed for r in results)
    out.write(f"{passed} passed, {len(results) - passed} failed\n")
