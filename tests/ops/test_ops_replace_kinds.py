"""apply_manifest(replace=true) on kinds its fixes were not written for: a Job's template, a bare pod's spec, a
Service's clusterIP. Each is refused in place, then replaced with the person's consent, and the question shows only
what the manifest changes (not the new object's uid, token volume or controller labels, which differ on every dry
run and would make the question differ on every round)."""

from __future__ import annotations

import pytest
from mcp_types import ElicitResult
from ops_helpers import call, err, ok, ops_env, stdio_client

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


def container(name: str, image: str, **fields) -> dict:
    return {"name": name, "image": image, **fields}


async def test_replace_recreates_a_jobs_template_a_pods_spec_and_a_services_cluster_ip(cluster, namespace, audit_log):
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "nightly-export"},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container("x", "registry.local/exp:1", command=["run", "--old"])]}},
        },
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "solo", "labels": {"a": "b"}},
        "spec": {"containers": [container("c", "registry.local/solo:1", ports=[{"containerPort": 7001}])]},
    }
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "edge"}, "spec": {"selector": {"a": "b"}, "ports": [{"port": 7001}]}}
    cluster.apply([job, pod, svc], namespace)
    changed = {
        "job": {
            **job,
            "spec": {
                **job["spec"],
                "template": {"spec": {**job["spec"]["template"]["spec"], "containers": [container("x", "registry.local/exp:1", command=["run", "--new"])]}},
            },
        },
        "pod": {**pod, "spec": {"containers": [container("c", "registry.local/solo:1", ports=[{"containerPort": 7002}])]}},
        "service": {**svc, "spec": {**svc["spec"], "clusterIP": "None"}},
    }
    expected = {
        "job": [{"p": "spec.template.spec.containers[x].command", "was": ["run", "--old"], "now": ["run", "--new"]}],
        "pod": [{"p": "spec.containers[c].ports[0].containerPort", "was": 7001, "now": 7002}],
        "service": "spec.clusterIP",
    }
    asked: list[str] = []

    async def accept(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_NAMESPACES=namespace), elicitation_callback=accept) as c:
        for kind, obj in changed.items():
            assert "replace=true" in err(await call(c, "apply_manifest", {"manifest": [obj]})), kind
            out = ok(await call(c, "apply_manifest", {"manifest": [obj], "replace": True}))
            (change,) = out["changes"]
            assert out["applied"] and change["action"] == "replaced", out
            if isinstance(expected[kind], list):
                assert change["diff"] == expected[kind], change
            else:
                assert [d["p"] for d in change["diff"]] == [expected[kind]] and change["diff"][0]["now"] == "None", change
    assert len(asked) == 3 and all("deletes" in a for a in asked), asked
    get = lambda obj, path: cluster.kubectl("get", obj, "-n", namespace, "-o", f"jsonpath={path}").stdout  # noqa: E731
    assert get("job/nightly-export", "{.spec.template.spec.containers[0].command[1]}") == "--new"
    assert get("pod/solo", "{.spec.containers[0].ports[0].containerPort}") == "7002"
    assert get("svc/edge", "{.spec.clusterIP}") == "None"
