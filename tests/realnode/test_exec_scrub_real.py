"""exec_in_pod on a real container never shows the values of the Secrets its pod references (env secretKeyRef,
envFrom, a secret volume's private key, a projected secret), as they are, base64-encoded, one line of a key, or cut
in the middle by the output cap. Every value is made up."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from cluster.harness import Cluster
from ops.ops_helpers import ok, stdio_client
from test_failures_real import SERVER, deployment, http_port, ops_env, wait_pod

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

_rng = random.Random(2311)
_BODY = base64.b64encode(bytes(_rng.getrandbits(8) for _ in range(6 * 64))).decode()
PEM_LINES = [_BODY[i : i + 64] for i in range(0, len(_BODY), 64)]
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(PEM_LINES) + "\n-----END PRIVATE KEY-----\n"
VALUES = {"env_ref": "ExecCanaryEnvRef-5517", "env_from": "ExecCanaryEnvFrom-2093", "projected": "ExecCanaryProjected-8841"}
CAP = 1000  # OPS_MCP_LOG_BYTES_LIMIT: exec output is cut here


def forms(value: str) -> list[str]:
    encoded = base64.b64encode(value.encode()).decode()
    return [value, encoded, encoded.rstrip("=")]


async def test_exec_output_never_shows_the_values_of_the_secrets_the_pod_references(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    ns, cluster, v = real_namespace, real_cluster, VALUES
    secrets = {
        "db-login": {"login": v["env_ref"]},
        "app-settings": {"SETTING_A": v["env_from"]},
        "app-tls": {"tls.key": PEM},
        "app-bundle": {"id": v["projected"]},
    }
    cluster.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n}, "stringData": data} for n, data in secrets.items()], ns)
    d = deployment(
        "vault",
        app_images["backend"],
        SERVER,
        ports=http_port(),
        env=[{"name": "DB_LOGIN", "valueFrom": {"secretKeyRef": {"name": "db-login", "key": "login"}}}, {"name": "GREETING", "value": "hello-plain"}],
        envFrom=[{"secretRef": {"name": "app-settings"}}],
        volumeMounts=[{"name": "tls", "mountPath": "/tls"}, {"name": "bundle", "mountPath": "/bundle"}],
    )
    d["spec"]["template"]["spec"]["volumes"] = [
        {"name": "tls", "secret": {"secretName": "app-tls"}},
        {"name": "bundle", "projected": {"sources": [{"secret": {"name": "app-bundle"}}]}},
    ]
    cluster.apply(d, ns)
    pod = wait_pod(cluster, ns, "vault", lambda p: "running" in ((p.get("status") or {}).get("containerStatuses") or [{}])[0].get("state", {}), "running")
    name = pod["metadata"]["name"]
    seeded = [f for value in v.values() for f in forms(value)] + PEM_LINES

    env = ops_env(cluster, ns, tmp_path / "audit.jsonl", OPS_MCP_ALLOW_EXEC="true", OPS_MCP_LOG_BYTES_LIMIT=str(CAP))
    async with stdio_client(env) as client:

        async def run(*argv: str) -> tuple[dict, str]:
            result = await client.call_tool("exec_in_pod", {"name": name, "command": list(argv), "confirm": True})
            out = ok(result)
            seen = json.dumps(out) + result.content[0].text
            assert [s for s in seeded if s in seen] == [], (argv, seen)
            return out, seen

        out, _ = await run("env")  # the images carry only the tools they use: env, cat, python3
        assert "GREETING=hello-plain" in out["stdout"] and "DB_LOGIN=***" in out["stdout"] and "SETTING_A=***" in out["stdout"], out
        out, _ = await run("cat", "/tls/tls.key", "/bundle/id")  # the whole key as one mask, then the projected value
        assert out["stdout"] == "***\n***", out
        lines = "import sys; k = open('/tls/tls.key').read().splitlines(True); sys.stdout.write(''.join(k[2:4] + k[-1:]))"
        out, _ = await run("python3", "-c", lines)  # a key's lines one by one (its armor says nothing secret)
        assert out["stdout"] == "***\n***\n-----END PRIVATE KEY-----\n", out
        out, _ = await run("python3", "-c", "import base64, os; print(base64.b64encode(os.environ['DB_LOGIN'].encode()).decode())")
        assert out["stdout"].strip() == "***", out
        # Cut by the cap in the middle of a value: its first characters are masked too.
        out, _ = await run("python3", "-c", f"import os, sys; sys.stdout.write('x' * {CAP - 12} + os.environ['DB_LOGIN'])")
        assert out["truncated"] is True and out["stdout"].endswith("x***") and v["env_ref"][:12] not in out["stdout"], out
