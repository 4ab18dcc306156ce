"""Exec toolset (opt-in: --allow-exec): exec_in_pod runs an argv in a running container.

Not in the default toolsets and never in read-only mode: a command in a container can do anything the container
can (read its mounted Secrets, change its data). So it is destructive (confirmed by the user), takes an argv list
(no shell string: a shell only when argv names one), is bounded by a timeout, and its output is capped, scrubbed of
the pod's own literal credentials and of the values of the Secrets it references (as they are, base64, line by
line), and redacted like every result; the audit log records the call. A command can still test a Secret's value
(`grep -q`): exec is for the user to confirm, not a sandbox.
"""

from typing import Annotated

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ops_mcp.errors import OpsError
from ops_mcp.params import Confirm, Name, NamespaceArg
from ops_mcp.policy import Confirmation
from ops_mcp.redact import redact_obj, scrub_values, secret_env_values
from ops_mcp.toolkit import OpsArg, tool

EXEC_RBAC = ("get pods", "create pods/exec")
Argv = Annotated[list[str], Field(min_length=1, max_length=64, description='argv, no shell (e.g. ["cat", "/etc/hosts"])')]


class ExecResult(BaseModel):
    pod: str
    container: str
    exit_code: int | None = None  # None: timed out
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    timed_out: bool = False
    note: str | None = None


def container_of(pod: dict, container: str | None) -> str:
    """The container to run in: the named one (it must be running), else the pod's default container."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    name = container or (default if default in names else names[0] if names else "")
    if name not in names:
        raise OpsError(f"Pod {pod['metadata']['name']!r} has no container {name!r}.", f"use one of: {', '.join(names)}.")
    state = next((cs.get("state") or {} for cs in status.get("containerStatuses") or [] if cs.get("name") == name), {})
    if "running" not in state:
        why = next(iter(state.values()), {}).get("reason") if state else "not started"
        raise OpsError(
            f"Container {name!r} of pod {pod['metadata']['name']!r} is not running ({why}).",
            "exec needs a running container: read its logs (get_pod_logs previous=true) or diagnose it instead.",
        )
    return name


async def confirm_exec(
    ops: OpsArg, name: str, command: list[str], namespace: str | None, confirm: bool, ctx: Context, container: str | None = None
) -> Confirmation | Elicit[Confirmation]:
    ns = ops.policy.namespace(namespace)
    where = f"pod/{name}" + (f" container {container}" if container else "")
    shown = redact_obj(list(command))
    return ops.ask(f"Run {shown} in {where} in namespace {ns!r}?", confirm, ctx)


@tool(title="Run a command in a container", kind="destructive", idempotent=False, rbac=EXEC_RBAC)
async def exec_in_pod(
    ops: OpsArg,
    name: Name,
    command: Argv,
    approval: Annotated[ElicitationResult[Confirmation], Resolve(confirm_exec)],
    ctx: Context,
    namespace: NamespaceArg = None,
    container: Annotated[str | None, Field(description="Default: the pod's default container")] = None,
    timeout_seconds: Annotated[int, Field(ge=1, le=300)] = 30,
    confirm: Confirm = False,
) -> Annotated[CallToolResult, ExecResult]:
    """Run an argv in a running container of a pod (no shell); output capped and scrubbed."""
    ns = ops.policy.namespace(namespace)
    pod = await ops.run(ops.cluster.get, "pods", name, ns)
    cname = container_of(pod, container)
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        out = ExecResult(pod=name, container=cname, note="not confirmed by the user; nothing ran")
        return ops.result(out, f"Not run in {name}/{cname}: the user did not confirm.")
    cap = ops.settings.log_bytes_limit
    # The values of the Secrets the pod references, to scrub from the output by value: read before the command, not
    # beside it (the client's exec stream swaps its ApiClient's call_api while it connects: a request at that moment fails).
    secrets = await ops.run(ops.cluster.secret_scrubber, ns, [pod])
    run = await ops.run(ops.cluster.exec, ns, name, cname, list(command), timeout=timeout_seconds, cap=cap)
    known = secret_env_values(pod)
    stdout, stderr = (secrets.text(scrub_values(stream, known), cut=run.truncated) for stream in (run.stdout, run.stderr))
    note = "; ".join(
        filter(
            None,
            [
                f"output capped at {cap} bytes per stream" if run.truncated else None,
                f"timed out after {timeout_seconds} s; the stream was closed (the process may still run: wrap argv in `timeout`)" if run.timed_out else None,
                secrets.note,
            ],
        )
    )
    out = ExecResult(
        pod=name,
        container=cname,
        exit_code=run.exit_code,
        stdout=stdout,
        stderr=stderr,
        truncated=run.truncated,
        timed_out=run.timed_out,
        note=note or None,
    )
    status = "timed out" if run.timed_out else f"exit {run.exit_code}"
    text = f"{name}/{cname}: {status}" + (f" ({note})" if note else "")
    if stdout:
        text += f"\n-- stdout\n{stdout.rstrip()}"
    if stderr:
        text += f"\n-- stderr\n{stderr.rstrip()}"
    return ops.result(out, text)
