"""Pods the scheduler cannot place: resources (with the numbers), node selectors, taints, affinity, unbound PVCs,
cordoned nodes. Reads the pod's *current* PodScheduled condition, so a FailedScheduling event from before the
cluster changed produces nothing once the pod is scheduled."""

from __future__ import annotations

import re
from decimal import Decimal

from .. import fixes
from ..base import Context, Issue, condition, live_pods, spec_path
from ..scope import owner_of
from ..snapshot import Obj, meta, name_of, quantity

check = "scheduling"
needs = ("pods",)

PATTERNS = [  # (mode, regex on the scheduler message)
    (
        "scheduling.unbound_pvc",
        re.compile(
            r"unbound immediate PersistentVolumeClaims|persistentvolumeclaim \"[^\"]+\" "
            r"not found|volume node affinity conflict",
            re.I,
        ),
    ),
    ("scheduling.insufficient_resources", re.compile(r"Insufficient [\w./-]+|Too many pods|didn't have free ports", re.I)),
    ("scheduling.selector_mismatch", re.compile(r"didn't match Pod's node affinity/selector", re.I)),
    ("scheduling.untolerated_taint", re.compile(r"untolerated taint", re.I)),
    (
        "scheduling.affinity",
        re.compile(
            r"didn't match pod (anti-)?affinity|didn't satisfy existing pods anti-affinity"
            r"|topology spread",
            re.I,
        ),
    ),
    ("scheduling.cordoned", re.compile(r"node\(s\) were unschedulable", re.I)),
]


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for pod in live_pods(ctx.scope.pods):
        cond = condition(pod, "PodScheduled")
        if (pod.get("spec") or {}).get("nodeName") or not cond or cond.get("status") != "False":
            continue
        if cond.get("reason") == "SchedulingGated":
            gates = [g.get("name") for g in (pod.get("spec") or {}).get("schedulingGates") or []]
            issues.append(
                Issue(
                    mode="scheduling.affinity",
                    obj=f"Pod/{name_of(pod)}",
                    owner=ctx.owner(pod),
                    ev=[{"p": "spec.schedulingGates", "v": gates}],
                    detail="gated",
                    subjects={f"Pod/{name_of(pod)}", ctx.owner(pod)},
                    cause={"text": f"Scheduling is gated by {gates}; the controller that owns the gate has not removed it", "conf": "high", "basis": [0]},
                )
            )
            continue
        issues.append(_issue(ctx, pod, cond))
    return issues


def _mode(message: str, pod: Obj, nodes: list[Obj]) -> str:
    counts = []
    for mode, rx in PATTERNS:
        match = rx.search(message)
        if match:
            number = re.search(r"(\d+)\s+" + re.escape(match.group(0)), message)
            counts.append((int(number.group(1)) if number else 0, -PATTERNS.index((mode, rx)), mode))
    if counts:
        mode = max(counts)[2]
        named = {m for _, _, m in counts}
        # only the nodes the pod could use matter: a taint on a node its selector excludes explains nothing, and a
        # selector that matches only tainted nodes is a taint problem
        wanted = [n for n in nodes if _selected(pod, n)]
        if mode == "scheduling.untolerated_taint" and len(named) > 1 and (not wanted or any(not _untolerated(pod, n) for n in wanted)):
            # some node the pod may use carries no taint against it: what keeps it off that node is the cause
            return max(c for c in counts if c[2] != "scheduling.untolerated_taint")[2]
        if mode == "scheduling.selector_mismatch" and "scheduling.untolerated_taint" in named and wanted and all(_untolerated(pod, n) for n in wanted):
            return "scheduling.untolerated_taint"
        return mode
    if (pod.get("spec") or {}).get("nodeSelector"):
        return "scheduling.selector_mismatch"
    return "scheduling.insufficient_resources"


def _selected(pod: Obj, node: Obj) -> bool:
    labels = meta(node).get("labels") or {}
    return all(labels.get(k) == v for k, v in ((pod.get("spec") or {}).get("nodeSelector") or {}).items())


def _untolerated(pod: Obj, node: Obj) -> list[Obj]:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    taints = (node.get("spec") or {}).get("taints") or []
    return [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(t, tolerations)]


def pod_requests(spec: Obj) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for c in spec.get("containers") or []:
        for res, value in ((c.get("resources") or {}).get("requests") or {}).items():
            total[res] = total.get(res, Decimal(0)) + quantity(value)
    for c in spec.get("initContainers") or []:  # init containers run one at a time: the max counts
        for res, value in ((c.get("resources") or {}).get("requests") or {}).items():
            total[res] = max(total.get(res, Decimal(0)), quantity(value))
    return total


def _fmt(res: str, value: Decimal) -> str:
    if res == "cpu":
        return f"{value.normalize():f}" if value == value.to_integral() else f"{int(value * 1000)}m"
    if res in ("memory", "ephemeral-storage"):
        return f"{int(value / (1024 * 1024))}Mi"
    return f"{value.normalize():f}"


def _issue(ctx: Context, pod: Obj, cond: Obj) -> Issue:
    spec, owner, pname = pod.get("spec") or {}, ctx.owner(pod), name_of(pod)
    message = cond.get("message") or ""
    mode = _mode(message, pod, ctx.snap.nodes)
    okind = owner.split("/", 1)[0]
    sp, target = spec_path(okind), fixes.short_ref(owner)
    ev = [{"p": "status.conditions[PodScheduled]", "v": {"reason": cond.get("reason"), "message": message[:300]}}]
    issue = Issue(mode=mode, obj=f"Pod/{pname}", owner=owner, ev=ev, subjects={f"Pod/{pname}", owner})
    nodes = [n for n in ctx.snap.nodes if not (n.get("spec") or {}).get("unschedulable")]
    if mode == "scheduling.insufficient_resources":
        wanted = pod_requests(spec)
        short = [r.rstrip(".") for r in re.findall(r"Insufficient ([\w./-]+)", message)] or [r for r in ("cpu", "memory") if r in wanted]
        parts, never = [], False
        for res in short:
            need = wanted.get(res, Decimal(0))
            biggest = max((quantity(((n.get("status") or {}).get("allocatable") or {}).get(res)) for n in nodes), default=None)
            ev.append({"p": f"{sp}.containers[*].resources.requests.{res}", "v": _fmt(res, need)})
            if biggest is not None:
                ev.append({"p": f"Node[*].status.allocatable.{res} (max)", "v": _fmt(res, biggest)})
                if need > biggest:
                    never = True
                    parts.append(f"requests {res} {_fmt(res, need)} > largest node allocatable {_fmt(res, biggest)}")
                else:
                    parts.append(f"requests {res} {_fmt(res, need)} fit a node's allocatable {_fmt(res, biggest)} but not what other pods left free")
        issue.detail = ",".join(short)
        issue.cause = {
            "text": ("No node can ever fit the pod: " if never else "Nodes are full: ") + "; ".join(parts)
            if parts
            else f"Not enough node resources: {message[:160]}",
            "conf": "high" if never or not nodes else "medium",
            "basis": list(range(len(ev))),
        }
        res = short[0] if short else "cpu"
        cname = ((spec.get("containers") or [{}])[0]).get("name", "<container>")
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            f"Lower the {res} request to fit a node, or add node capacity",
            fixes.kubectl(ctx.ns, "set", "resources", target, "-c", cname, f"--requests={res}=<fits-a-node>"),
            helm_set={f"resources.requests.{res}": "<fits-a-node>"},
        )
    elif mode == "scheduling.selector_mismatch":
        selector = spec.get("nodeSelector") or {}
        ev.append({"p": f"{sp}.nodeSelector", "v": selector})
        missing = []
        for key, value in selector.items():
            have = sorted({(meta(n).get("labels") or {}).get(key) for n in ctx.snap.nodes} - {None})
            if value not in have:
                missing.append((key, value, have))
        if missing:
            key, value, have = missing[0]
            ev.append({"p": f"Node[*].metadata.labels.{key}", "v": have or "no node has this label"})
            issue.detail = f"{key}={value}"
            issue.cause = {
                "text": f"nodeSelector {key}={value} matches no node (nodes have {key}={'|'.join(have) if have else '<unset>'})",
                "conf": "high",
                "basis": [1, 2],
            }
            remove = [{"op": "remove", "path": f"/{sp.replace('.', '/')}/nodeSelector/{key.replace('~', '~0').replace('/', '~1')}"}]
            issue.fix = fixes.make(
                ctx.snap,
                owner,
                f"Remove nodeSelector {key}={value}, which no node carries (or label a node {key}={value} if one should)",
                helm_set={f"nodeSelector.{key}": "null"},
                apply=[fixes.patch_step(ctx.snap, owner, remove, "json")],  # a bare pod's: `make` says to recreate it
            )
            issue.alt = [{"text": f"kubectl label node <node> {key}={value} if a node should carry it", "conf": "medium"}]
        else:
            issue.mode = "scheduling.affinity"
            ev.append({"p": f"{sp}.affinity.nodeAffinity", "v": ((spec.get("affinity") or {}).get("nodeAffinity") or "unset")})
            issue.cause = {"text": "Required node affinity matches no node", "conf": "medium", "basis": [0, 1]}
    elif mode == "scheduling.untolerated_taint":
        tolerations = spec.get("tolerations") or []
        taints = []
        for node in [n for n in nodes if _selected(pod, n)] or nodes:  # the nodes its selector allows
            for taint in _untolerated(pod, node):
                taints.append(f"{name_of(node)}: {taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}")
        ev.append({"p": "Node[*].spec.taints (untolerated)", "v": taints[:4] or "see message"})
        issue.detail = taints[0].split(": ", 1)[1] if taints else ""
        issue.cause = {
            "text": "Every node carries a taint the pod does not tolerate" + (f" ({taints[0]})" if taints else ""),
            "conf": "high" if taints else "medium",
            "basis": [0, 1],
        }
        if taints:
            key, rest = taints[0].split(": ", 1)[1].split("=", 1)
            value, effect = rest.rsplit(":", 1)
            toleration = {"key": key, "operator": "Equal", "value": value, "effect": effect}
            ops = [{"op": "add", "path": f"/{sp.replace('.', '/')}/tolerations", "value": tolerations + [toleration]}]
            # a node condition (not-ready, pressure, unreachable) or the control plane's taint is not to be tolerated
            system = key.startswith(("node.kubernetes.io/", "node-role.kubernetes.io/", "node.cloudprovider.kubernetes.io/"))
            issue.fix = fixes.make(
                ctx.snap,
                owner,
                f"The node's {key} taint is a node condition or the control plane's: fix the node, not the pod"
                if system
                else f"Add a toleration for {key}={value}:{effect}, if this workload belongs on those nodes (else remove the taint from a node)",
                helm_set=None if system else {"tolerations[0].key": key, "tolerations[0].value": value, "tolerations[0].effect": effect},
                apply=None if system else [fixes.patch_step(ctx.snap, owner, ops, "json")],  # tolerations may be added to a pod
                mutates=not system,
                risk="medium",
            )
    elif mode == "scheduling.unbound_pvc":
        claims = [(v.get("persistentVolumeClaim") or {}).get("claimName") for v in spec.get("volumes") or []]
        claims = [c for c in claims if c]
        pvcs = {c: ctx.snap.by_name("pvcs", c) for c in claims}
        for claim, pvc in pvcs.items():
            ev.append(
                {"p": f"PersistentVolumeClaim/{claim}.status.phase", "v": ((pvc or {}).get("status") or {}).get("phase", "Pending") if pvc else "not found"}
            )
        issue.links = {f"PersistentVolumeClaim/{c}" for c in claims}
        issue.symptom = True
        missing = [c for c, p in pvcs.items() if p is None]
        issue.cause = {
            "text": f"PVC {missing[0]} does not exist" if missing else f"Claim(s) {', '.join(claims)} are not bound",
            "conf": "high",
            "basis": list(range(len(ev))),
        }
        if missing:
            issue.symptom = False
            issue.fix = fixes.make(ctx.snap, owner, f"Create PVC {missing[0]} or fix claimName", None, verify=False, mutates=False)
    elif mode == "scheduling.cordoned":
        cordoned = [name_of(n) for n in ctx.snap.nodes if (n.get("spec") or {}).get("unschedulable")]
        ev.append({"p": "Node[*].spec.unschedulable", "v": cordoned or "see message"})
        issue.cause = {"text": f"Nodes are cordoned ({', '.join(cordoned[:3])}) and the rest do not fit", "conf": "high", "basis": [0, 1]}
        if cordoned:
            issue.fix = fixes.make(
                ctx.snap, owner, f"Uncordon {cordoned[0]} once its maintenance is done", f"kubectl uncordon {cordoned[0]}", verify=False, risk="medium"
            )
    else:  # affinity
        ev.append({"p": f"{sp}.affinity", "v": list((spec.get("affinity") or {}).keys()) or "unset"})
        issue.cause = {"text": f"Pod (anti-)affinity or topology spread rules cannot be met: {message[:160]}", "conf": "medium", "basis": [0, 1]}
        issue.fix = _soften(ctx, owner, okind, sp, spec, message)
    return issue


def _soften(ctx: Context, owner: str, okind: str, sp: str, spec: Obj, message: str) -> dict | None:
    """The hard placement rules the scheduler names, made preferences: required (anti-)affinity terms become
    preferred ones (weight 100), DoNotSchedule spreads ScheduleAnyway. The pods then spread where they can."""
    if okind == "Pod":
        return None
    path = "/" + sp.replace(".", "/")
    ops: list[dict] = []
    changed: list[str] = []
    affinity = spec.get("affinity") or {}
    for kind, words in (("podAntiAffinity", "anti-affinity"), ("podAffinity", "pod affinity")):
        required = (affinity.get(kind) or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        if required and (words in message or "affinity" in message):
            preferred = (affinity.get(kind) or {}).get("preferredDuringSchedulingIgnoredDuringExecution") or []
            value = {"preferredDuringSchedulingIgnoredDuringExecution": preferred + [{"weight": 100, "podAffinityTerm": t} for t in required]}
            ops.append({"op": "replace", "path": f"{path}/affinity/{kind}", "value": value})
            changed.append(f"required {kind} -> preferred")
    kind, name = owner.split("/", 1)
    workload = ctx.snap.workload(kind, name) or {}
    placed = [p for p in ctx.snap.pods if (p.get("spec") or {}).get("nodeName") and owner_of(ctx.snap, p) == owner]
    strategy = ((workload.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate")
    if kind == "Deployment" and placed and strategy != "Recreate" and any("podAntiAffinity" in c for c in changed):
        # the running pods keep their required anti-affinity until they stop, and kube-scheduler does not retry a pod
        # that an existing pod's anti-affinity refused when that pod goes (it waits up to 5 minutes): a rolling update
        # would start the new pods while the old ones stop and leave them Pending. Recreate stops the old pods first.
        ops.append({"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}})
        changed.append("strategy Recreate, so the running pods stop before the new ones are placed (RollingUpdate again once they run)")
    spreads = spec.get("topologySpreadConstraints") or []
    if "topology spread" in message and any(c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule" for c in spreads):
        ops.append({"op": "replace", "path": f"{path}/topologySpreadConstraints", "value": [{**c, "whenUnsatisfiable": "ScheduleAnyway"} for c in spreads]})
        changed.append("topologySpreadConstraints DoNotSchedule -> ScheduleAnyway")
    if not ops:
        return None
    return fixes.make(
        ctx.snap,
        owner,
        f"Make the placement rules preferences ({'; '.join(changed)}): the nodes this cluster has cannot meet them as requirements",
        apply=[fixes.patch_step(ctx.snap, owner, ops, "json")],
        risk="medium",
    )


def _tolerated(taint: Obj, tolerations: list[Obj]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and (not tol.get("key") or tol["key"] == taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False
