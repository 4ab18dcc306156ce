"""Addresses a container is given (env values: URLs, host:port, *_HOST) that name a Service of its own namespace
which does not exist, or a port that Service does not serve, when the container's own log shows the failure: a
renamed or deleted Service, a wrong host or port. The fix is built from what the namespace holds: the near-named
Service (and its port), or, when only the workload is left, the Service it lost. And the errors a Running container's
log repeats with nothing in the cluster to explain them.

Only env values are read; an address inside a command line is not (the log still shows as `app.log_errors`)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from .. import fixes
from ..base import Context, Issue, container_specs, live_pods, select_log_lines, spec_path
from ..snapshot import Obj, name_of, selector_matches

check = "dependency"
needs = ("pods",)

URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:[^@/\s]*@)?(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>\d+))?(?P<rest>[/?#].*)?$")
HOST_PORT = re.compile(r"^(?P<host>[A-Za-z][A-Za-z0-9.-]*):(?P<port>\d+)$")
HOST_VAR = re.compile(r"(?i)(_|^)(HOST|HOSTNAME|ADDR|ADDRESS|SERVICE|SERVER|ENDPOINT)$")
DNS_FAILURE = re.compile(
    r"(?i)name or service not known|nodename nor servname|getaddrinfo|no such host|nxdomain|temporary failure in name resolution|"
    r"could not resolve|unknown host|name resolution|failed to resolve|unable to resolve"
)
CONNECT_FAILURE = re.compile(r"(?i)connection refused|timed out|timeout|unreachable|connection reset|econnrefused|no route to host|could not connect")
# A line an application logs at error level (not "0 errors", "error_count=0" or a debug mention).
APP_ERROR = re.compile(r"(?i)(^|[\s\[\"'(|])(error|err|fatal|critical|panic|exception)([\]:\s|\"')]|$)|level=(error|fatal)|traceback \(|\w+(error|exception):")
SCHEME_PORTS = {"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432, "redis": 6379, "mysql": 3306, "mongodb": 27017, "amqp": 5672}
MIN_ERRORS = 3  # error lines among the last ones before a Running container's log counts as failing


@dataclass
class Address:
    var: str
    value: str
    host: str  # the Service name it names
    written: str  # the host as written (short, name.ns, name.ns.svc...)
    port: int | None
    scheme: str | None


def analyze(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    for pod in live_pods(ctx.scope.pods):
        status = pod.get("status") or {}
        for init in (True, False):
            statuses = {cs["name"]: cs for cs in status.get("initContainerStatuses" if init else "containerStatuses") or []}
            for cspec in container_specs(pod.get("spec") or {}, init):
                cs = statuses.get(cspec.get("name"))
                if cs is None:
                    continue
                issue = _address_issue(ctx, pod, cspec, cs, init) or (None if init else _log_errors(ctx, pod, cs))
                if issue:
                    issues.append(issue)
    return issues


def _lines(ctx: Context, pod: Obj, cs: Obj) -> tuple[list[str], bool]:
    """The container's most telling log: the previous run's when it crashed, else the current one."""
    for previous in ((cs.get("restartCount") or 0) > 0, False):
        lines = ctx.snap.log(name_of(pod), cs["name"], previous)
        if lines:
            return lines, previous
    return [], False


def addresses(ctx: Context, cspec: Obj) -> list[Address]:
    """In-namespace Service addresses among the container's literal env values."""
    out = []
    for env in cspec.get("env") or []:
        value = env.get("value")
        if not isinstance(value, str) or not value:
            continue
        match = URL.match(value) or HOST_PORT.match(value)
        scheme = match.groupdict().get("scheme") if match else None
        if match:
            written, port = match.group("host"), int(match.group("port")) if match.group("port") else None
        elif HOST_VAR.search(env.get("name") or "") and re.fullmatch(r"[a-z][a-z0-9.-]*", value):
            written, port = value, None
        else:
            continue
        labels = written.lower().split(".")
        # name, name.ns, name.ns.svc, name.ns.svc.cluster.local of this namespace; not an external or dotted name
        if len(labels) > 1 and (labels[1] != ctx.ns or (len(labels) > 2 and labels[2] != "svc")):
            continue
        if labels[0] in ("localhost",) or labels[0].isdigit():
            continue
        out.append(Address(env["name"], value, labels[0], written, port or SCHEME_PORTS.get(scheme or ""), scheme))
    return out


def _address_issue(ctx: Context, pod: Obj, cspec: Obj, cs: Obj, init: bool) -> Issue | None:
    lines, previous = _lines(ctx, pod, cs)
    text = "\n".join(lines[-50:])
    if not text:
        return None
    for addr in addresses(ctx, cspec):
        svc = ctx.snap.by_name("services", addr.host)
        mentioned = addr.host in text
        if svc is None and (DNS_FAILURE.search(text) or (mentioned and CONNECT_FAILURE.search(text))):
            return _issue(ctx, pod, cspec, cs, init, addr, None, lines, previous)
        if svc is not None and DNS_FAILURE.search(text) and _own_dns(pod):
            return _dns_issue(ctx, pod, cspec, init, addr, lines, previous)
        ports = [p.get("port") for p in (svc or {}).get("spec", {}).get("ports") or []]
        if svc is not None and addr.port and ports and addr.port not in ports and CONNECT_FAILURE.search(text):
            return _issue(ctx, pod, cspec, cs, init, addr, svc, lines, previous)
        if svc is not None and (CONNECT_FAILURE.search(text) or DNS_FAILURE.search(text)):
            blocked = _policy_block(ctx, pod, svc, addr, dns=bool(DNS_FAILURE.search(text)))
            if blocked:
                return _policy_issue(ctx, pod, cspec, init, addr, svc, blocked, lines, previous)
    return None


# ---- NetworkPolicies between the client and the Service's pods ----


def _matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    return selector == {} or selector is None or selector_matches(selector, labels)


def _types(policy: Obj) -> list[str]:
    spec = policy.get("spec") or {}
    return spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])


def _peer_allows(peers: list[Obj] | None, labels: dict[str, str]) -> bool:
    """A rule's from/to list admits a pod of this namespace with these labels (no list: every peer)."""
    if not peers:
        return True
    return any("ipBlock" not in p and "namespaceSelector" not in p and _matches(p.get("podSelector"), labels) for p in peers)


def _port_allows(ports: list[Obj] | None, port: Any) -> bool:
    return not ports or any("port" not in p or p.get("port") == port for p in ports)


def _server(ctx: Context, svc: Obj) -> tuple[dict[str, str], Any] | None:
    """The labels of the Service's pods (from the workload that runs them) and the port it targets."""
    selector = (svc.get("spec") or {}).get("selector") or {}
    for attr in ("deployments", "statefulsets", "daemonsets"):
        for obj in getattr(ctx.snap, attr):
            labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            if selector and selector_matches(selector, labels):
                port = ((svc.get("spec") or {}).get("ports") or [{}])[0]
                return labels, port.get("targetPort", port.get("port"))
    return None


def _policy_block(ctx: Context, pod: Obj, svc: Obj, addr: Address, dns: bool) -> dict[str, Any] | None:
    """The policy that drops the client's traffic: an egress policy on the client that admits neither the Service's
    pods nor DNS, or an ingress policy on the Service's pods that does not admit the client."""
    server = _server(ctx, svc)
    if server is None:
        return None
    server_labels, target = server
    client_labels = (pod.get("metadata") or {}).get("labels") or {}
    egress = [p for p in ctx.snap.networkpolicies if "Egress" in _types(p) and _matches((p.get("spec") or {}).get("podSelector"), client_labels)]
    if egress:
        rules = [r for p in egress for r in (p.get("spec") or {}).get("egress") or []]
        dns_open = any(_port_allows(r.get("ports"), 53) for r in rules if not r.get("to") or any("namespaceSelector" in t for t in r["to"]))
        if dns and not dns_open:
            return {"way": "egress", "policies": egress, "labels": server_labels, "port": target, "dns": True}
        if not any(_peer_allows(r.get("to"), server_labels) and _port_allows(r.get("ports"), target) for r in rules):
            return {"way": "egress", "policies": egress, "labels": server_labels, "port": target, "dns": not dns_open}
    if dns:
        return None
    ingress = [p for p in ctx.snap.networkpolicies if "Ingress" in _types(p) and _matches((p.get("spec") or {}).get("podSelector"), server_labels)]
    rules = [r for p in ingress for r in (p.get("spec") or {}).get("ingress") or []]
    if ingress and not any(_peer_allows(r.get("from"), client_labels) and _port_allows(r.get("ports"), target) for r in rules):
        return {"way": "ingress", "policies": ingress, "labels": server_labels, "port": target, "dns": False}
    return None


def _policy_issue(ctx: Context, pod: Obj, cspec: Obj, init: bool, addr: Address, svc: Obj, blocked: dict, lines: list[str], previous: bool) -> Issue:
    cname, owner, pname = cspec["name"], ctx.owner(pod), name_of(pod)
    names = [name_of(p) for p in blocked["policies"]]
    client = _workload_labels(ctx, owner) or {k: v for k, v in ((pod.get("metadata") or {}).get("labels") or {}).items() if k != "pod-template-hash"}
    ev: list[dict[str, Any]] = [
        {"p": f"NetworkPolicy/{names[0]}.spec", "v": (blocked["policies"][0].get("spec") or {})},
        {"p": f"services/{addr.host}", "v": f"exists; its pods: {blocked['labels']}, port {blocked['port']}"},
        {"log": {"src": "previous" if previous else "current", "pod": pname, "container": cname, "lines": select_log_lines(lines, limit=6)}},
    ]
    if blocked["way"] == "egress":
        text = f"NetworkPolicy {', '.join(names)} selects {owner}'s pods and allows no egress to Service {addr.host}'s pods" + (
            " nor DNS" if blocked["dns"] else ""
        )
        egress = [{"to": [{"podSelector": {"matchLabels": blocked["labels"]}}], "ports": [{"port": blocked["port"], "protocol": "TCP"}]}]
        if blocked["dns"]:
            # DNS on port 53 wherever the cluster serves it (a pod in kube-system, or the node itself)
            egress.append({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]})
        name, spec = (
            f"allow-{name_of_owner(owner)}-egress-to-{addr.host}",
            {"podSelector": {"matchLabels": client}, "policyTypes": ["Egress"], "egress": egress},
        )
    else:
        text = f"NetworkPolicy {', '.join(names)} selects Service {addr.host}'s pods and admits no traffic from {owner}'s pods"
        ingress = [{"from": [{"podSelector": {"matchLabels": client}}], "ports": [{"port": blocked["port"], "protocol": "TCP"}]}]
        name, spec = (
            f"allow-{name_of_owner(owner)}-to-{addr.host}",
            {"podSelector": {"matchLabels": blocked["labels"]}, "policyTypes": ["Ingress"], "ingress": ingress},
        )
    text += f"; the container's log: {_telling(lines)[:140]}"
    issue = Issue(mode="dependency.network_policy", obj=f"Pod/{pname}", owner=owner, container=cname, ev=ev, detail=names[0], logs_read=1)
    issue.subjects = {f"Pod/{pname}", owner, f"Pod/{pname}#{cname}"}
    issue.cause = {"text": text, "conf": "high", "basis": [0, 1, 2]}
    manifest = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name[:63]}, "spec": spec}
    issue.fix = fixes.make(
        ctx.snap,
        owner,
        f"Add NetworkPolicy {name[:63]}, which allows exactly this traffic ({blocked['way']}, port {blocked['port']}); the existing policies stay",
        None,
        apply=[fixes.step("apply_manifest", manifest=[manifest], namespace=ctx.ns)],
        verify=False,
        risk="medium",
    )
    return issue


def name_of_owner(owner: str) -> str:
    return owner.split("/", 1)[1]


def _workload_labels(ctx: Context, owner: str) -> dict[str, str] | None:
    kind, name = owner.split("/", 1)
    obj = ctx.snap.workload(kind, name)
    return (((obj or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") if kind != "Pod" else None


def _own_dns(pod: Obj) -> bool:
    """The pod resolves names with its node's or its own nameservers, which do not know the cluster's Services."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy", "ClusterFirst")
    return policy in ("Default", "None") or (policy == "ClusterFirst" and spec.get("hostNetwork") is True)


def _dns_issue(ctx: Context, pod: Obj, cspec: Obj, init: bool, addr: Address, lines: list[str], previous: bool) -> Issue:
    """The Service exists; the pod's DNS settings keep it from resolving the name."""
    cname, owner, pname = cspec["name"], ctx.owner(pod), name_of(pod)
    okind = owner.split("/", 1)[0]
    sp = spec_path(okind)
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy", "ClusterFirst")
    ev: list[dict[str, Any]] = [
        {"p": f"{sp}.dnsPolicy", "v": policy},
        {"p": f"{sp}.dnsConfig", "v": spec.get("dnsConfig") or "unset"},
        {"log": {"src": "previous" if previous else "current", "pod": pname, "container": cname, "lines": select_log_lines(lines, limit=6)}},
    ]
    text = f"Service {addr.host} exists, but with dnsPolicy {policy} the pod's nameservers do not resolve cluster names: {_telling(lines)[:160]}"
    issue = Issue(mode="dependency.dns", obj=f"Pod/{pname}", owner=owner, container=cname, ev=ev, detail=policy, logs_read=1)
    issue.subjects = {f"Pod/{pname}", owner, f"Pod/{pname}#{cname}"}
    issue.cause = {"text": text, "conf": "high", "basis": [0, 1, 2]}
    path = "/" + sp.replace(".", "/")
    ops = [
        {
            "op": "replace" if "dnsPolicy" in spec else "add",
            "path": f"{path}/dnsPolicy",
            "value": "ClusterFirstWithHostNet" if spec.get("hostNetwork") else "ClusterFirst",
        }
    ]
    if spec.get("dnsConfig") and policy == "None":
        ops.append({"op": "remove", "path": f"{path}/dnsConfig"})
    issue.fix = fixes.make(
        ctx.snap,
        owner,
        f"Resolve through the cluster's DNS: dnsPolicy {ops[0]['value']}" + (" and no custom dnsConfig" if len(ops) > 1 else ""),
        apply=[fixes.patch_step(ctx.snap, owner, ops, "json")],  # a bare pod's: `make` says it is recreated by hand
    )
    return issue


def _similar(a: str, b: str) -> float:
    return 1.0 if a in b or b in a else difflib.SequenceMatcher(None, a, b).ratio()


def _service_port(svc: Obj, addr: Address) -> int | None:
    ports = (svc.get("spec") or {}).get("ports") or []
    if addr.port in [p.get("port") for p in ports]:
        return addr.port
    named = [p["port"] for p in ports if addr.scheme and p.get("name") == addr.scheme]
    return named[0] if named else (ports[0].get("port") if len(ports) == 1 else None)


def _issue(ctx: Context, pod: Obj, cspec: Obj, cs: Obj, init: bool, addr: Address, svc: Obj | None, lines: list[str], previous: bool) -> Issue:
    cname, owner, pname = cspec["name"], ctx.owner(pod), name_of(pod)
    sp = spec_path(owner.split("/", 1)[0])
    where = f"{sp}.{'initContainers' if init else 'containers'}[{cname}].env[{addr.var}]"
    services = sorted(name_of(s) for s in ctx.snap.services)
    ev: list[dict[str, Any]] = [{"p": where, "v": addr.value}]
    if svc is None:
        mode = "dependency.missing_service"
        ev.append({"p": f"services/{addr.host}", "v": f"not found; this namespace has: {', '.join(services[:8]) or 'no Services'}"})
        text = f"{addr.var} points at Service {addr.host}, which does not exist in {ctx.ns}"
    else:
        mode = "dependency.wrong_port"
        served = [p.get("port") for p in (svc.get("spec") or {}).get("ports") or []]
        ev.append({"p": f"services/{addr.host}.spec.ports", "v": served})
        text = f"{addr.var} asks Service {addr.host} on port {addr.port}, which it does not serve (it serves {', '.join(map(str, served))})"
    log = {"log": {"src": "previous" if previous else "current", "pod": pname, "container": cname, "lines": select_log_lines(lines, limit=6)}}
    ev.append(log)
    text += f"; the {'init ' if init else ''}container's log: {_telling(lines)[:160]}"
    issue = Issue(mode=mode, obj=f"Pod/{pname}", owner=owner, container=cname, ev=ev, detail=addr.var, logs_read=1)
    issue.subjects = {f"Pod/{pname}", owner, f"Pod/{pname}#{cname}"}
    issue.cause = {"text": text, "conf": "high", "basis": [0, 1, 2]}
    issue.fix = _fix(ctx, owner, cname, init, addr, svc)
    return issue


def _telling(lines: list[str]) -> str:
    return next((line for line in reversed(lines) if DNS_FAILURE.search(line) or CONNECT_FAILURE.search(line)), lines[-1] if lines else "").strip()


def _fix(ctx: Context, owner: str, cname: str, init: bool, addr: Address, svc: Obj | None) -> dict[str, Any]:
    ns, target = ctx.ns, fixes.short_ref(owner)
    others = [s for s in ctx.snap.services if name_of(s) != addr.host and (s.get("spec") or {}).get("type") != "ExternalName"]
    if svc is not None:  # the host is right, the port is not
        port = _service_port(svc, addr)
        if port is None:
            return _no_fix(ctx, owner, f"Service {addr.host} serves several ports; set {addr.var} to the one the app needs")
        return _env_fix(ctx, owner, cname, init, addr, addr.host, port, f"Service {addr.host} serves port {port}")
    near = sorted(((_similar(addr.host, name_of(s)), name_of(s), s) for s in others), key=lambda t: -t[0])
    near = [t for t in near if t[0] >= 0.6]
    if len(near) == 1 or (near and near[0][0] > near[1][0]):
        _, name, candidate = near[0]
        port = _service_port(candidate, addr)
        if port is not None:
            return _env_fix(ctx, owner, cname, init, addr, name, port, f"Service {name} is the namespace's near-named Service")
    workload = _lost_workload(ctx, addr.host)
    if workload is not None:
        return _service_fix(ctx, owner, addr, *workload)
    names = ", ".join(name_of(s) for s in others[:8]) or "none"
    return _no_fix(
        ctx, owner, f"No Service or workload of {ns} is near {addr.host} (Services: {names}); set {addr.var} ({target}) to the address the app needs"
    )


def _env_fix(ctx: Context, owner: str, cname: str, init: bool, addr: Address, host: str, port: int, why: str) -> dict[str, Any]:
    value = _rewrite(addr, host, port)
    env = [{"name": addr.var, "value": value}]
    return fixes.make(
        ctx.snap,
        owner,
        f"Set {addr.var} to {value}: {why}",
        apply=[fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, init=init, env=env))],
    )


def _rewrite(addr: Address, host: str, port: int) -> str:
    """The env value with the Service name (and the port, when it was written or is not the scheme's default)."""
    _, _, rest = addr.written.partition(".")
    written = host + ("." + rest if rest else "")
    match = URL.match(addr.value)
    if match:
        default = SCHEME_PORTS.get(addr.scheme or "")
        port_text = f":{port}" if match.group("port") or port != default else ""
        start, end = match.span("host")
        tail_start = match.end("port") if match.group("port") else end
        return addr.value[:start] + written + port_text + addr.value[tail_start:]
    if HOST_PORT.match(addr.value):
        return f"{written}:{port}"
    return written


def _lost_workload(ctx: Context, host: str) -> tuple[str, Obj] | None:
    """A workload named as the Service its clients ask for, with Ready pods and no Service selecting it."""
    for kind, attr, ready in (("Deployment", "deployments", "readyReplicas"), ("StatefulSet", "statefulsets", "readyReplicas")):
        obj = ctx.snap.by_name(attr, host)
        if obj is not None and ((obj.get("status") or {}).get(ready) or 0):
            return kind, obj
    return None


def _service_fix(ctx: Context, owner: str, addr: Address, kind: str, workload: Obj) -> dict[str, Any]:
    labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    template = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    ports = [p for c in template.get("containers") or [] for p in c.get("ports") or []]
    if not labels or not ports:
        return _no_fix(ctx, owner, f"{kind} {addr.host} runs without a Service; create one that selects its pods on the port the app serves")
    named = [p for p in ports if addr.scheme and p.get("name") == addr.scheme] or ports
    target = named[0].get("name") or named[0]["containerPort"]
    port = addr.port or named[0]["containerPort"]
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": addr.host, "labels": dict(labels)},
        "spec": {"selector": dict(labels), "ports": [{"name": named[0].get("name") or "tcp", "port": port, "targetPort": target}]},
    }
    return fixes.make(
        ctx.snap,
        f"{kind}/{addr.host}",
        f"Create Service {addr.host} (port {port} -> {target}) for {kind} {addr.host}, whose pods are Ready but no Service selects them",
        apply=[fixes.step("apply_manifest", manifest=[manifest], namespace=ctx.ns)],
        verify=False,
    )


def _no_fix(ctx: Context, owner: str, do: str) -> dict[str, Any]:
    return fixes.make(ctx.snap, owner, do, None, verify=False, mutates=False)


# ---- a Running container whose own log keeps failing ----


def _log_errors(ctx: Context, pod: Obj, cs: Obj) -> Issue | None:
    if "running" not in (cs.get("state") or {}) or ((cs.get("restartCount") or 0) > 0 and not cs.get("ready")):
        return None  # a crash loop is the crashloop check's; this is for a container that keeps running
    lines = ctx.snap.log(name_of(pod), cs["name"], False) or []
    recent = lines[-20:]
    errors = [line for line in recent if APP_ERROR.search(line)]
    if len(errors) < MIN_ERRORS or errors[-1] not in recent[-5:]:
        return None  # a few old errors, or the app has recovered since
    owner, pname, cname = ctx.owner(pod), name_of(pod), cs["name"]
    ready = bool(cs.get("ready"))
    ev = [
        {"p": f"status.containerStatuses[{cname}].ready", "v": ready},
        {"log": {"src": "current", "pod": pname, "container": cname, "lines": select_log_lines(lines, limit=6)}},
    ]
    text = f"{cname} is running{' and Ready' if ready else ''}, but {len(errors)} of its last {len(recent)} log lines are errors: {errors[-1].strip()[:160]}"
    issue = Issue(mode="app.log_errors", obj=f"Pod/{pname}", owner=owner, container=cname, ev=ev, logs_read=1, sev="medium" if ready else None)
    issue.subjects = {f"Pod/{pname}", owner, f"Pod/{pname}#{cname}"}
    issue.cause = {"text": text, "conf": "medium", "basis": [1]}
    issue.fix = _no_fix(ctx, owner, "Nothing in the cluster explains these errors: they are the application's; read its log around them")
    issue.next = [fixes.kubectl(ctx.ns, "logs", pname, "-c", cname, "--tail=100")]
    return issue
