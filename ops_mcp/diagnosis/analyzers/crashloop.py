"""Restarting containers: CrashLoopBackOff split by the last termination (OOM, bad command, liveness, exit 0, app error)."""

from __future__ import annotations

import re
from typing import Any

from .. import fixes
from ..base import Context, Issue, container_spec, key_line, live_pods, spec_path, terminated_runtime
from ..snapshot import Obj, name_of, parse_time, quantity
from . import rbac

check = "crashloop"
needs = ("pods",)

EXIT_CLASS = {
    1: "application error",
    2: "usage error (bad flags or args)",
    126: "command found but not executable",
    127: "command not found",
    128: "the runtime could not start the process",
    137: "killed (SIGKILL)",
    139: "segmentation fault",
    143: "terminated (SIGTERM)",
}
START_FAILURE = re.compile(
    r"(?i)executable file not found|no such file or directory|permission denied|"
    r"exec format error|no command specified|: not found"
)
ENV_PATTERNS = [
    re.compile(r"KeyError: ['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]"),
    re.compile(r"(?i)(?:environment variable|env var(?:iable)?|variable)\s+[\"'$]?\{?([A-Z_][A-Z0-9_]{2,})"),
    re.compile(
        r"\b([A-Z][A-Z0-9_]{2,})\b[\"']?\s+(?:is\s+|was\s+)?(?:not set|undefined|unset|is required|"
        r"required|missing|must be set|is empty)"
    ),
    re.compile(r"(?i)missing (?:required )?(?:env(?:ironment)?(?: var(?:iable)?)?\s*)?[\"']?([A-Z][A-Z0-9_]{2,})"),
]


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for pod in live_pods(ctx.scope.pods):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if ctx.options.container and status.get("name") != ctx.options.container:
                continue
            issue = classify(ctx, pod, status)
            if issue:
                issues.append(issue)
    return issues


def is_crashing(status: Obj) -> bool:
    waiting = (status.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") == "CrashLoopBackOff":
        return True
    if waiting.get("reason") in ("RunContainerError", "CreateContainerError"):
        return True
    last = (status.get("lastState") or {}).get("terminated")
    # between two back-offs the container shows running (or terminated) while not ready
    return bool(last and status.get("restartCount", 0) > 0 and not status.get("ready") and "running" not in (status.get("state") or {}))


def between_liveness_kills(ctx: Context, pod: Obj, status: Obj) -> bool:
    """Running again after the liveness probe killed the previous run, and failing again (or too young to have been
    probed enough): still a crash loop, though it shows running (even Ready) between two kills."""
    running = (status.get("state") or {}).get("running") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    started = parse_time(running.get("startedAt"))
    if not (started and last and status.get("restartCount")):
        return False
    events = _liveness_events(ctx, pod, status["name"], last)
    if not any(e["reason"] == "Killing" for e in events):
        return False
    probe = container_spec(pod.get("spec") or {}, status["name"]).get("livenessProbe") or {}
    window = probe.get("initialDelaySeconds", 0) + (probe.get("periodSeconds", 10) + probe.get("timeoutSeconds", 1)) * probe.get("failureThreshold", 3)
    return any(e["reason"] == "Unhealthy" and e["_t"] and e["_t"] >= started for e in events) or (ctx.snap.now - started).total_seconds() <= window


def classify(ctx: Context, pod: Obj, status: Obj) -> Issue | None:
    if not is_crashing(status) and not between_liveness_kills(ctx, pod, status):
        return None
    cname = status["name"]
    owner = ctx.owner(pod)
    okind = owner.split("/", 1)[0]
    sp, spec = spec_path(okind), pod.get("spec") or {}
    cspec = container_spec(spec, cname)
    base = f"status.containerStatuses[{cname}]"
    waiting = (status.get("state") or {}).get("waiting") or {}
    last = (status.get("lastState") or {}).get("terminated") or (status.get("state") or {}).get("terminated") or {}
    restarts = status.get("restartCount", 0)
    ev: list[dict[str, Any]] = []
    if waiting.get("reason"):
        ev.append({"p": f"{base}.state.waiting.reason", "v": waiting["reason"]})
    term = {k: last[k] for k in ("reason", "exitCode") if k in last}
    if terminated_runtime(last):
        term["ranFor"] = terminated_runtime(last)
    if last.get("message"):
        term["message"] = last["message"][-300:]
    if term:
        ev.append({"p": f"{base}.lastState.terminated", "v": term})
    ev.append({"p": f"{base}.restartCount", "v": restarts})
    exit_code, reason = last.get("exitCode"), last.get("reason") or ""
    message = (last.get("message") or "") + " " + (waiting.get("message") or "")
    issue = Issue(mode="", obj=f"Pod/{name_of(pod)}", owner=owner, container=cname, ev=ev, subjects={f"Pod/{name_of(pod)}", owner})
    logs = ctx.log_ev(name_of(pod), cname, previous=restarts > 0)
    log_lines = logs["log"]["lines"] if logs else []
    log_text = "\n".join(ctx.snap.log(name_of(pod), cname, restarts > 0) or [])
    if logs:
        issue.logs_read = 1
    ns, target = ctx.ns, fixes.short_ref(owner)
    liveness = _liveness_events(ctx, pod, cname, last)
    if reason == "OOMKilled":
        limit = ((cspec.get("resources") or {}).get("limits") or {}).get("memory")
        ev.append({"p": f"{sp}.containers[{cname}].resources.limits.memory", "v": limit or "unset"})
        issue.mode = "crashloop.oom_killed"
        if limit:
            new = _double_memory(limit)
            issue.cause = {
                "text": f"Container exceeds its {limit} memory limit and is OOM-killed",
                "conf": "high",
                "basis": _basis(ev, "lastState", "limits.memory"),
            }
            issue.fix = fixes.make(
                ctx.snap,
                owner,
                f"Raise the memory limit/request of {cname} to {new} (a guess: 2x the current limit; check real usage)",
                fixes.kubectl(ns, "set", "resources", target, "-c", cname, f"--limits=memory={new}", f"--requests=memory={new}"),
                helm_set={"resources.limits.memory": new, "resources.requests.memory": new},
                values=f"resources:\n  limits:\n    memory: {new}\n  requests:\n    memory: {new}",
            )
            issue.alt = [{"text": "Memory leak (run time shrinking across restarts)", "conf": "low"}]
        else:
            issue.cause = {"text": "OOM-killed without a memory limit: the node ran out of memory", "conf": "medium", "basis": _basis(ev, "lastState")}
            issue.fix = fixes.make(
                ctx.snap,
                owner,
                f"Set a memory request and limit on {cname}",
                fixes.kubectl(ns, "set", "resources", target, "-c", cname, "--limits=memory=512Mi", "--requests=memory=512Mi"),
                helm_set={"resources.limits.memory": "512Mi"},
            )
    elif (
        exit_code in (126, 127, 128)
        or reason == "StartError"
        or (waiting.get("reason") in ("RunContainerError", "CreateContainerError") and START_FAILURE.search(message))
    ):
        issue.mode = "crashloop.bad_command"
        for key in ("command", "args"):
            if cspec.get(key):
                ev.append({"p": f"{sp}.containers[{cname}].{key}", "v": cspec[key]})
        ev.append({"p": f"{sp}.containers[{cname}].image", "v": cspec.get("image")})
        what = EXIT_CLASS.get(exit_code, "the process could not start")
        detail = START_FAILURE.search(message)
        issue.cause = {
            "text": f"The container command cannot run ({what})" + (f": {message.strip()[:160]}" if message.strip() else ""),
            "conf": "high" if detail or exit_code in (126, 127) else "medium",
            "basis": _basis(ev, "lastState", "command", "args"),
        }
        index = _index(spec, cname)
        field = "command" if cspec.get("command") else "args"
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            f"Correct the {field} of {cname}, or use an image that contains the binary",
            fixes.kubectl(
                ns,
                "patch",
                target,
                fixes.json_patch([{"op": "replace", "path": f"/{sp.replace('.', '/')}/containers/{index}/{field}", "value": ["<correct>", "<command>"]}]),
            ),
        )
    elif liveness:
        issue.mode = "crashloop.liveness"
        probe = cspec.get("livenessProbe") or {}
        ev.append({"p": f"{sp}.containers[{cname}].livenessProbe", "v": _probe_summary(probe)})
        ev += [ctx.event_ev(e) for e in liveness[:2]]
        port_problem = _probe_port_problem(probe, cspec)
        killed = any(e["reason"] == "Killing" for e in liveness)
        probe_failure = next((e for e in liveness if e["reason"] == "Unhealthy"), liveness[0])
        text = f"Liveness probe fails ({probe_failure['msg'][:120]}), kubelet restarts the container"
        if port_problem:
            text += f"; {port_problem}"
        issue.cause = {"text": text, "conf": "high" if killed or port_problem else "medium", "basis": [len(ev) - len(liveness[:2]) - 1, len(ev) - 1]}
        index, http = _index(spec, cname), probe.get("httpGet")
        path = f"/{sp.replace('.', '/')}/containers/{index}/livenessProbe"
        known = probe_fix(probe, cspec, " ".join(e["msg"] for e in liveness if e["reason"] == "Unhealthy"), [])
        if known:
            field, value, why = known
            ops = [{"op": "replace", "path": f"{path}/{field}", "value": value}]
            do = f"Point the liveness probe's {field.split('/')[-1]} at {value}: {why}; do not just remove it"
            helm_set = {f"livenessProbe.{field.replace('/', '.')}": str(value)}
        else:
            if http:
                ops = [{"op": "replace", "path": f"{path}/httpGet/path", "value": "<healthy-path>"}]
            else:
                ops = [{"op": "replace", "path": f"{path}/initialDelaySeconds", "value": 30}]
            do = (
                "Point the liveness probe at an endpoint that answers (or add a startupProbe / raise "
                "initialDelaySeconds for slow starts); do not just remove it"
            )
            helm_set = {"livenessProbe.httpGet.path": "<healthy-path>"}
        issue.fix = fixes.make(ctx.snap, owner, do, fixes.kubectl(ns, "patch", target, fixes.json_patch(ops)), helm_set=helm_set)
    else:
        missing = _missing_env(ctx, spec, cspec, log_text)
        if exit_code == 0:
            issue.mode = "crashloop.exit_zero"
            text = "The process exits 0 and restartPolicy Always restarts it (a one-shot command or a process that daemonizes)"
            conf = "medium"
        else:
            issue.mode = "crashloop.app_error"
            cls = EXIT_CLASS.get(exit_code, f"exit code {exit_code}")
            text = f"The application exits with code {exit_code} ({cls})"
            conf = "medium" if log_lines else "low"
        if logs:
            ev.append(logs)
        if missing:
            var = missing[0]
            issue.detail = var
            ev.append({"p": f"{sp}.containers[{cname}].env[{var}]", "v": "absent (also not in envFrom keys)"})
            text = (
                f"env {var} is not set: the log names it and the container spec lacks it"
                if exit_code
                else f"{text}; the log says env {var} is undefined and the spec lacks it"
            )
            conf = "high" if exit_code else "medium"
            issue.fix = fixes.make(
                ctx.snap,
                owner,
                f"Set {var} (a literal, or from a Secret with --from=secret/NAME)",
                fixes.kubectl(ns, "set", "env", target, "-c", cname, f"{var}=<value>"),
                helm_set={f"env.{var}": "<value>"},
                values=f"env:\n  {var}: <value>",
            )
        elif log_lines and exit_code:
            text = f"{text}: {key_line(log_lines)[:160]}"
        issue.fix = issue.fix or rbac.log_forbidden_fix(ctx, owner, log_text)  # a 403 in the log: grant the rule
        if not issue.fix:
            issue.fix = _rollback_or_logs(ctx, owner, cname, issue.mode)
        issue.cause = {"text": text, "conf": conf, "basis": [i for i, e in enumerate(ev) if "log" in e or "lastState" in (e.get("p") or "")]}
    if not logs and restarts > 0 and issue.mode != "crashloop.oom_killed":
        issue.next.append(fixes.kubectl(ns, "logs", name_of(pod), "-c", cname, "--previous", "--tail=50"))
    return issue


def _liveness_events(ctx: Context, pod: Obj, cname: str, last: Obj) -> list[dict[str, Any]]:
    if not container_spec(pod.get("spec") or {}, cname).get("livenessProbe"):
        return []
    after = parse_time(last.get("startedAt"))
    found = [
        e
        for e in ctx.events("Pod", pod, reasons=("Unhealthy", "Killing"))
        if "liveness probe" in e["msg"].lower() and (e["reason"] != "Killing" or cname in e["msg"])
    ]
    if after:  # only failures of the run that was killed (or later), not history
        found = [e for e in found if e["_t"] is None or e["_t"] >= after]
    return found


def _probe_summary(probe: Obj) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if probe.get("httpGet"):
        out["httpGet"] = {k: probe["httpGet"][k] for k in ("path", "port") if k in probe["httpGet"]}
    elif probe.get("tcpSocket"):
        out["tcpSocket"] = probe["tcpSocket"].get("port")
    elif probe.get("exec"):
        out["exec"] = probe["exec"].get("command")
    for key in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"):
        if key in probe:
            out[key] = probe[key]
    return out


def _probe_port_problem(probe: Obj, cspec: Obj) -> str | None:
    port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
    declared = cspec.get("ports") or []
    if isinstance(port, str) and port not in {p.get("name") for p in declared}:
        return f"probe port {port!r} is not a declared container port name"
    if isinstance(port, int) and declared and port not in {p.get("containerPort") for p in declared}:
        return f"probe port {port} is not among the container ports {[p.get('containerPort') for p in declared]}"
    return None


def _port_number(port: Any, declared: list[Obj]) -> Any:
    """A probe port as a number (a named port resolved against the declared ones; unknown names stay names)."""
    return next((p.get("containerPort") for p in declared if isinstance(port, str) and p.get("name") == port), port)


def probe_fix(probe: Obj, cspec: Obj, failure: str, passing: list[Obj]) -> tuple[str, Any, str] | None:
    """(field under the probe, value, why) when the cluster knows what the probe should ask: the declared container
    port when nothing listens on the probe's port (or it is not a declared port), or the path that a passing probe of
    the container asks on the same port when the probe's path answers 404."""
    handler = "httpGet" if probe.get("httpGet") else "tcpSocket" if probe.get("tcpSocket") else None
    if handler is None:
        return None
    port, declared = probe[handler].get("port"), [p for p in cspec.get("ports") or [] if p.get("containerPort")]
    number, undeclared = _port_number(port, declared), _probe_port_problem(probe, cspec) is not None
    if undeclared or "connection refused" in failure:
        others = [p for p in declared if p["containerPort"] != number]
        used = [
            p for p in others if any(_port_number((q.get("httpGet") or q.get("tcpSocket") or {}).get("port"), declared) == p["containerPort"] for q in passing)
        ]
        # a port a passing probe uses; else, for an undeclared probe port, the one other declared port
        pick = used[0] if len(used) == 1 else others[0] if undeclared and len(others) == 1 else None
        if pick is None:
            return None
        value = pick["name"] if isinstance(port, str) and pick.get("name") else pick["containerPort"]
        problem = f"nothing listens on {port}" if "connection refused" in failure else f"{port} is not a declared container port"
        return (
            f"{handler}/port",
            value,
            f"{problem}, the container declares port {pick['containerPort']}"
            + (f" named {pick['name']}" if pick.get("name") else "")
            + (" and another probe of it passes there" if pick in used else ""),
        )
    if handler == "httpGet" and "statuscode: 404" in failure:
        paths = {q["httpGet"].get("path", "/") for q in passing if q.get("httpGet") and _port_number(q["httpGet"].get("port"), declared) == number}
        paths.discard(probe["httpGet"].get("path", "/"))
        if len(paths) == 1:
            path = paths.pop()
            return "httpGet/path", path, f"{probe['httpGet'].get('path', '/')} answers 404; {path} on the same port answers another probe of this container"
    return None


def _missing_env(ctx: Context, spec: Obj, cspec: Obj, log_text: str) -> list[str]:
    """Variable names the log complains about that the container does not define (env or envFrom keys)."""
    if not log_text:
        return []
    named: list[str] = []
    for pattern in ENV_PATTERNS:
        for match in pattern.finditer(log_text):
            if match.group(1) not in named:
                named.append(match.group(1))
    if not named:
        return []
    defined = {e.get("name") for e in cspec.get("env") or []}
    for source in cspec.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for attr, store in (("configMapRef", ctx.snap.configmaps), ("secretRef", ctx.snap.secrets)):
            ref_name = (source.get(attr) or {}).get("name")
            if ref_name:
                known = store.get(ref_name)
                if known is None:  # not fetched: cannot confirm absence
                    return []
                defined |= {prefix + k for k in known.keys}
    return [name for name in named if name not in defined]


def _rollback_or_logs(ctx: Context, owner: str, cname: str, mode: str) -> dict[str, Any]:
    kind, name = owner.split("/", 1)
    if kind == "Deployment":
        revisions = [rs for rs in ctx.snap.replicasets if ctx.snap.controller_of(rs) == ("Deployment", name)]
        if len(revisions) > 1:
            fix = fixes.make(
                ctx.snap,
                owner,
                "Roll back to the previous revision if it was healthy, then fix the error in the log",
                fixes.kubectl(ctx.ns, "rollout", "undo", fixes.short_ref(owner)),
                risk="medium",
            )
            release = fix.get("helm")
            if release:
                rel = release.split()[2]
                fix["helm"] = f"helm rollback {rel} -n {ctx.ns}  # previous revision; see helm history {rel} -n {ctx.ns}"
                fix.pop("values", None)
            return fix
    return fixes.make(ctx.snap, owner, f"Fix the application error shown in the previous logs of {cname}", None, verify=False, mutates=False)


def _basis(ev: list[dict[str, Any]], *needles: str) -> list[int]:
    return [i for i, e in enumerate(ev) if any(n in (e.get("p") or "") for n in needles)]


def _index(spec: Obj, cname: str) -> int:
    return next((i for i, c in enumerate(spec.get("containers") or []) if c.get("name") == cname), 0)


def _double_memory(limit: str) -> str:
    mib = int(quantity(limit) * 2 / (1024 * 1024))
    return f"{max(mib, 64)}Mi"
