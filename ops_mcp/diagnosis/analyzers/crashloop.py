"""Restarting containers: CrashLoopBackOff split by the last termination (OOM, bad command, liveness, exit 0, app error)."""

from __future__ import annotations

import re
from typing import Any

from .. import fixes, probes
from ..base import Context, Issue, container_spec, key_line, live_pods, spec_path, terminated_runtime
from ..snapshot import Obj, name_of, parse_time, quantity
from . import rbac

check = "crashloop"
MIB = 1024 * 1024
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
# The override names a binary the image does not have: the image's own entrypoint is the fix (issue 14).
MISSING_BINARY = re.compile(r"(?i)executable file not found|no such file or directory|: not found")
# An interpreter started on a program file the image does not have (python, node, a shell, java -jar).
MISSING_SCRIPT = re.compile(r"can't open file '([^']+)'|Cannot find module '([^']+)'|(?:bash|sh): (/[^:\s]+): No such file|Unable to access jarfile (\S+)")
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
    cspec = container_spec(pod.get("spec") or {}, status["name"])
    probe = cspec.get("livenessProbe") or cspec.get("startupProbe") or {}
    window = probe.get("initialDelaySeconds", 0) + (probe.get("periodSeconds", 10) + probe.get("timeoutSeconds", 1)) * probe.get("failureThreshold", 3)
    # three windows, not one: a loaded kubelet probes late, and its event spam filter holds back a pod's repeated
    # Unhealthy events, so a run that is not yet reported failing is not yet proven healthy either
    return any(e["reason"] == "Unhealthy" and e["_t"] and e["_t"] >= started for e in events) or (ctx.snap.now - started).total_seconds() <= 3 * window


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
    ns = ctx.ns
    liveness = _liveness_events(ctx, pod, cname, last)
    script = None
    if reason == "OOMKilled":
        limit = ((cspec.get("resources") or {}).get("limits") or {}).get("memory")
        ev.append({"p": f"{sp}.containers[{cname}].resources.limits.memory", "v": limit or "unset"})
        issue.mode = "crashloop.oom_killed"
        if limit:
            new, basis = raised_memory(ctx, pod, limit)
            request = ((cspec.get("resources") or {}).get("requests") or {}).get("memory")
            # the request follows when it was the limit (same QoS class) or would exceed the new one
            follow = request is None or quantity(request) >= quantity(limit)
            issue.cause = {
                "text": f"Container exceeds its {limit} memory limit and is OOM-killed",
                "conf": "high",
                "basis": _basis(ev, "lastState", "limits.memory"),
            }
            memory = {"limits": {"memory": new}, **({"requests": {"memory": new}} if follow else {})}
            issue.fix = fixes.make(
                ctx.snap,
                owner,
                f"Raise the memory limit{'/request' if follow else ''} of {cname} to {new} ({basis}; its real usage is not known here)",
                helm_set={"resources.limits.memory": new, **({"resources.requests.memory": new} if follow else {})},
                values=f"resources:\n  limits:\n    memory: {new}" + (f"\n  requests:\n    memory: {new}" if follow else ""),
                apply=[fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, resources=memory))],
            )
            issue.alt = [{"text": "Memory leak (run time shrinking across restarts)", "conf": "low"}]
        else:
            issue.cause = {"text": "OOM-killed without a memory limit: the node ran out of memory", "conf": "medium", "basis": _basis(ev, "lastState")}
            # its need is not known here (no limit was hit): a person picks it
            memory = {"limits": {"memory": "<limit>"}, "requests": {"memory": "<limit>"}}
            issue.fix = fixes.make(
                ctx.snap,
                owner,
                f"Set a memory request and limit on {cname}: its need is unknown here (no limit to raise); the node ran out of memory",
                fixes.kubectl_of([fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, resources=memory))]),
                helm_set={"resources.limits.memory": "<limit>"},
            )
    elif (
        exit_code in (126, 127, 128)
        or reason == "StartError"
        or (waiting.get("reason") in ("RunContainerError", "CreateContainerError") and START_FAILURE.search(message))
        or (exit_code and (script := MISSING_SCRIPT.search(log_text)))
    ):
        issue.mode = "crashloop.bad_command"
        for key in ("command", "args"):
            if cspec.get(key):
                ev.append({"p": f"{sp}.containers[{cname}].{key}", "v": cspec[key]})
        ev.append({"p": f"{sp}.containers[{cname}].image", "v": cspec.get("image")})
        what = EXIT_CLASS.get(exit_code, "the process could not start")
        detail = START_FAILURE.search(message)
        missing = next((g for g in script.groups() if g), None) if script else None
        if missing:
            what = f"the program file {missing} does not exist in the image"
            if logs:
                ev.append(logs)
        issue.cause = {
            "text": f"The container command cannot run ({what})" + (f": {message.strip()[:160]}" if message.strip() and not missing else ""),
            "conf": "high" if detail or missing or exit_code in (126, 127) else "medium",
            "basis": _basis(ev, "lastState", "command", "args", "log"),
        }
        missing_binary = bool(missing or MISSING_BINARY.search(message)) or exit_code == 127
        issue.fix = _command_fix(ctx, owner, cname, cspec, _index(spec, cname), sp, missing_binary, missing)
    elif liveness:
        issue.mode = "crashloop.liveness"
        killer = next(
            (k for k in ("startupProbe", "livenessProbe") if any(probes.PROBES[k].lower() + " probe" in e["msg"].lower() for e in liveness)), "livenessProbe"
        )
        probe = cspec.get(killer) or {}
        ev.append({"p": f"{sp}.containers[{cname}].{killer}", "v": probes.summary(probe)})
        ev += [ctx.event_ev(e) for e in liveness[:2]]
        port_problem = probes.port_problem(probe, cspec)
        killed = any(e["reason"] == "Killing" for e in liveness)
        probe_failure = next((e for e in liveness if e["reason"] == "Unhealthy"), liveness[0])
        text = f"{probes.PROBES[killer]} probe fails ({probe_failure['msg'][:120]}), kubelet restarts the container"
        if port_problem:
            text += f"; {port_problem}"
        basis = [len(ev) - len(liveness[:2]) - 1, len(ev) - 1]
        found = _wrong_probes(ctx, pod, status, cspec, last)
        wrong = {k: found.get(k, "") for k in probes.PROBES if k in found or k == killer}
        for key in (k for k in wrong if k != killer):  # every other wrong probe of the container, in the same finding
            ev.append({"p": f"{sp}.containers[{cname}].{key}", "v": probes.summary(cspec[key])})
            text += f"; its {probes.PROBES[key].lower()} probe fails too"
        issue.cause = {"text": text, "conf": "high" if killed or port_problem else "medium", "basis": basis}
        passing = [cspec[k] for k in probes.PROBES if cspec.get(k) and k not in wrong and (k != "readinessProbe" or status.get("ready"))]
        base = f"/{sp.replace('.', '/')}/containers/{_index(spec, cname)}"
        issue.fix = probes.fix(ctx.snap, owner, pod, cspec, base, wrong, passing)
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
            issue.fix = _env_fix(ctx, owner, cname, var)
        elif log_lines and exit_code:
            text = f"{text}: {key_line(log_lines)[:160]}"
        issue.fix = issue.fix or rbac.log_forbidden_fix(ctx, owner, log_text)  # a 403 in the log: grant the rule
        if not issue.fix:
            issue.fix = _rollback_or_logs(ctx, owner, cname, issue.mode)
        issue.cause = {"text": text, "conf": conf, "basis": [i for i, e in enumerate(ev) if "log" in e or "lastState" in (e.get("p") or "")]}
    if not logs and restarts > 0 and issue.mode != "crashloop.oom_killed":
        issue.next.append(fixes.kubectl(ns, "logs", name_of(pod), "-c", cname, "--previous", "--tail=50"))
    return issue


def _command_fix(ctx: Context, owner: str, cname: str, cspec: Obj, index: int, sp: str, missing_binary: bool, missing: str | None = None) -> dict[str, Any]:
    """Restore what ran before (the last healthy revision's command/args, after rolling back to it), else drop the
    override when the image's own entrypoint is seen running elsewhere or the override's binary does not exist in the
    image, else say it is unknown and give the candidates."""
    path = f"/{sp.replace('.', '/')}/containers/{index}"
    healthy = fixes.healthy_previous(ctx.snap, owner)
    old = container_spec(healthy.get("spec") or {}, cname) if healthy else None
    keys = [k for k in ("command", "args") if cspec.get(k)]
    undo = [fixes.undo_step(ctx.snap, owner)] if healthy else []
    if old is not None and any(old.get(k) != cspec.get(k) for k in ("command", "args")):
        # strategic, not JSON: it must also apply (unchanged) to the template the rollback restores
        kept = {k: old[k] for k in ("command", "args") if old.get(k)}
        patch = fixes.container_patch(owner, cname, **kept)
        do = (
            "Roll back to the last healthy revision, then keep its command" + (" and args" if "args" in kept else "")
            if kept
            else "Roll back to the last healthy revision"
        )
        root = [fixes.patch_step(ctx.snap, owner, patch)] if kept else []
        return fixes.make(ctx.snap, owner, do, apply=undo + root, risk="medium")
    elif not keys:
        do = "The image's own entrypoint cannot run: use an image that works" + (" (roll back to the last healthy revision)" if undo else "")
        return fixes.make(ctx.snap, owner, do, apply=undo, mutates=bool(undo))
    else:
        # args belong to a command override; with args alone they go to the image's entrypoint, which is what fails
        ops = [{"op": "remove", "path": f"{path}/{k}"} for k in keys]
        image = cspec.get("image")
        runs = any(
            c.get("image") == image and not c.get("command") and not c.get("args")
            for spec in fixes.running_templates(ctx.snap)
            for c in spec.get("containers") or []
        )
        if not runs and missing_binary and cspec.get("command"):
            binary = missing or str(cspec["command"][0])
            do = (
                f"Remove the {'/'.join(keys)} override so the image's own entrypoint runs: {binary!r} does not exist in {image} "
                "(if the entrypoint is not the program you meant, set the command to a binary the image has)"
            )
            apply = undo + [fixes.patch_step(ctx.snap, owner, ops, "json")]
            return fixes.make(ctx.snap, owner, do, apply=apply, risk="medium")
        if not runs:
            do = (
                f"Unknown which command is right: {image} is not seen running here without an override. Candidates: remove the "
                f"{'/'.join(keys)} override so the image's own entrypoint runs (the command in the note), correct the binary name, or use an image that has it"
            )
            candidate = fixes.kubectl_of([fixes.patch_step(ctx.snap, owner, ops, "json")])
            return fixes.make(ctx.snap, owner, do, candidate, apply=undo, risk="medium")
        do = f"Remove the {'/'.join(keys)} override so the image's own entrypoint runs ({image} runs so in this namespace)"
    apply = undo + [fixes.patch_step(ctx.snap, owner, ops, "json")]
    return fixes.make(ctx.snap, owner, do, apply=apply)


def _wrong_probes(ctx: Context, pod: Obj, status: Obj, cspec: Obj, last: Obj) -> dict[str, str]:
    """Probe key -> the kubelet's failure messages of this run (or the killed one), for every probe of the container
    that fails."""
    after = parse_time(last.get("startedAt"))
    out = {}
    for key, word in probes.PROBES.items():
        if not cspec.get(key):
            continue
        found = [e["msg"] for e in ctx.events("Pod", pod, reasons=("Unhealthy",), after=after) if f"{word.lower()} probe" in e["msg"].lower()]
        if not found:
            # The kubelet's event spam filter stops a pod's events after a burst (25, then one per 5 min), so a
            # crash-looping pod's later runs often have none. A pod's probes cannot change: a failing status code
            # answered in an earlier run of this pod is still the answer (a refusal then may only have been start-up).
            earlier = [e["msg"] for e in ctx.events("Pod", pod, reasons=("Unhealthy",)) if f"{word.lower()} probe" in e["msg"].lower()]
            found = [m for m in earlier if "statuscode:" in m]
        if found:  # a probe on an undeclared port may still pass (declaring ports is informational)
            out[key] = " ".join(found)
    return out


def _liveness_events(ctx: Context, pod: Obj, cname: str, last: Obj) -> list[dict[str, Any]]:
    """Failures and kills by the liveness or startup probe (both restart the container)."""
    cspec = container_spec(pod.get("spec") or {}, cname)
    words = [f"{probes.PROBES[k].lower()} probe" for k in ("livenessProbe", "startupProbe") if cspec.get(k)]
    if not words:
        return []
    after = parse_time(last.get("startedAt"))
    found = [
        e
        for e in ctx.events("Pod", pod, reasons=("Unhealthy", "Killing"))
        if any(w in e["msg"].lower() for w in words) and (e["reason"] != "Killing" or cname in e["msg"])
    ]
    if after:  # only failures of the run that was killed (or later), not history
        recent = [e for e in found if e["_t"] is None or e["_t"] >= after]
        # ...unless the kubelet's spam filter dropped this run's events: a run ended by a signal or a clean exit
        # (what a liveness kill leaves) in a pod whose earlier runs were killed by the probe was killed the same way.
        killed_before = any(e["reason"] == "Killing" for e in found)
        ended_like_a_kill = last.get("exitCode") in (0, 137, 143) and last.get("reason") != "OOMKilled"
        found = recent or (found if killed_before and ended_like_a_kill else [])
    return found


def _env_fix(ctx: Context, owner: str, cname: str, var: str) -> dict[str, Any]:
    """Set the variable from the Secret (or ConfigMap) of the namespace that holds a key of that name; with no such
    key the value is unknown: the fix says so (and rolls back first when the previous revision is healthy)."""
    for ref, store in (("secretKeyRef", ctx.snap.secrets), ("configMapKeyRef", ctx.snap.configmaps)):
        source = next((name for name, keys in sorted(store.items()) if keys.exists and var in keys.keys), None)
        if source:
            kind = "secret" if ref == "secretKeyRef" else "configmap"
            env = [{"name": var, "valueFrom": {ref: {"name": source, "key": var}}}]
            return fixes.make(
                ctx.snap,
                owner,
                f"Set {var} from {kind} {source}, which has a key {var}",
                apply=[fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, env=env))],
            )
    undo = [fixes.undo_step(ctx.snap, owner)] if fixes.healthy_previous(ctx.snap, owner) is not None else []
    return fixes.make(
        ctx.snap,
        owner,
        ("Roll back to the previous revision, which still serves; then set " if undo else "Set ")
        + f"{var}: its value is unknown here (no Secret or ConfigMap of the namespace has a key {var}); a literal, or --from=secret/NAME",
        fixes.kubectl_of([fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, env=[{"name": var, "value": "<value>"}]))]),
        helm_set={f"env.{var}": "<value>"},
        values=f"env:\n  {var}: <value>",
        apply=undo,
    )


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
    if fixes.healthy_previous(ctx.snap, owner) is not None:  # a Helm release's: `make` rolls the release back
        return fixes.make(
            ctx.snap,
            owner,
            "Roll back to the previous revision, which still serves, then fix the error in the log",
            risk="medium",
            apply=[fixes.undo_step(ctx.snap, owner)],
        )
    return fixes.make(ctx.snap, owner, f"Fix the application error shown in the previous logs of {cname}", None, verify=False, mutates=False)


def _basis(ev: list[dict[str, Any]], *needles: str) -> list[int]:
    return [i for i, e in enumerate(ev) if any(n in (e.get("p") or "") for n in needles)]


def _index(spec: Obj, cname: str) -> int:
    return next((i for i, c in enumerate(spec.get("containers") or []) if c.get("name") == cname), 0)


def raised_memory(ctx: Context, pod: Obj, limit: str) -> tuple[str, str]:
    """(new limit, why): twice the current limit, at least 64Mi, at most the node's allocatable memory."""
    mib = max(int(quantity(limit) * 2 / MIB), 64)
    node = ctx.snap.by_name("nodes", (pod.get("spec") or {}).get("nodeName") or "")
    allocatable = int(quantity(((node or {}).get("status") or {}).get("allocatable", {}).get("memory")) / MIB)
    if allocatable and mib > allocatable:
        return f"{allocatable}Mi", f"2x the current limit, capped at node {name_of(node)}'s allocatable memory"
    return f"{mib}Mi", "2x the current limit"
