"""Images that cannot be pulled: wrong tag, auth or missing repo, unreachable registry, bad name, local images."""

from __future__ import annotations

import re

from .. import fixes
from ..base import Context, Issue, container_spec, live_pods, spec_path
from ..snapshot import Obj, meta, name_of

check = "image_pull"
needs = ("pods",)

PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
RULES = [  # first match wins; the message is the waiting message plus the kubelet's Failed events
    ("image_pull.never_pull", re.compile(r"(?i)ErrImageNeverPull|not present with pull policy of Never")),
    ("image_pull.invalid_name", re.compile(r"(?i)InvalidImageName|invalid reference format|couldn't parse image")),
    (
        "image_pull.registry_unreachable",
        re.compile(
            r"(?i)dial tcp|no such host|i/o timeout|x509:|toomanyrequests|"
            r"connection refused|TLS handshake"
        ),
    ),
    (
        "image_pull.auth_or_missing_repo",
        re.compile(
            r"(?i)pull access denied|insufficient_scope|401 Unauthorized|"
            r"403 Forbidden|unauthorized|repository does not exist|"
            r"authorization failed"
        ),
    ),
    ("image_pull.tag_not_found", re.compile(r"(?i)code = NotFound|: not found|manifest unknown|manifest for .* not found")),
]


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    local_cluster = _local_cluster(ctx)
    for pod in live_pods(ctx.scope.pods):
        status = pod.get("status") or {}
        for init, statuses in ((True, status.get("initContainerStatuses")), (False, status.get("containerStatuses"))):
            for cs in statuses or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") in PULL_REASONS:
                    issues.append(_issue(ctx, pod, cs, waiting, init, local_cluster))
    return issues


def _local_cluster(ctx: Context) -> str | None:
    for node in ctx.snap.nodes:
        labels = meta(node).get("labels") or {}
        if any(k.startswith("minikube.k8s.io/") for k in labels):
            return "minikube"
        if str((node.get("spec") or {}).get("providerID", "")).startswith("kind://"):
            return "kind"
    return None


def _issue(ctx: Context, pod: Obj, cs: Obj, waiting: Obj, init: bool, local_cluster: str | None) -> Issue:
    cname, owner = cs["name"], ctx.owner(pod)
    sp = spec_path(owner.split("/", 1)[0])
    key = "initContainers" if init else "containers"
    cspec = container_spec(pod.get("spec") or {}, cname, init)
    image = cspec.get("image") or cs.get("image") or ""
    policy = cspec.get("imagePullPolicy")
    ev = [
        {
            "p": f"status.{'initContainerStatuses' if init else 'containerStatuses'}[{cname}].state.waiting",
            "v": {"reason": waiting.get("reason"), "message": (waiting.get("message") or "")[:200]},
        },
        {"p": f"{sp}.{key}[{cname}].image", "v": image},
    ]
    if policy:
        ev.append({"p": f"{sp}.{key}[{cname}].imagePullPolicy", "v": policy})
    failed = [e for e in ctx.events("Pod", pod, reasons=("Failed",)) if image in e["msg"] or "image" in e["msg"].lower()]
    failed = [e for e in failed if not e["msg"].startswith("Error: ")] or failed
    ev += [ctx.event_ev(e) for e in failed[:1]]
    text = " ".join([waiting.get("reason") or "", waiting.get("message") or ""] + [e["msg"] for e in failed])
    mode = next((m for m, rx in RULES if rx.search(text)), None)
    first = image.split("/")[0]
    registryless = not ("/" in image and ("." in first or ":" in first or first == "localhost"))
    conf = "high" if failed or mode in ("image_pull.never_pull", "image_pull.invalid_name") else "medium"
    if mode in (None, "image_pull.auth_or_missing_repo") and local_cluster and registryless:
        mode = "image_pull.local_image_not_loaded"
    if mode is None:
        mode, conf = "image_pull.tag_not_found", "low"
    ns = ctx.ns
    tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else "latest (implied)"
    issue = Issue(mode=mode, obj=f"Pod/{name_of(pod)}", owner=owner, container=cname, ev=ev, detail=image, subjects={f"Pod/{name_of(pod)}", owner})
    named = image.split("@", 1)[0]
    repository = named.rsplit(":", 1)[0] if ":" in named.split("/")[-1] else named
    node_name = (pod.get("spec") or {}).get("nodeName")
    on_node = node_tags(ctx, node_name, repository, image)
    if on_node:
        ev.append({"p": f"Node/{node_name}.status.images[{repository}]", "v": [f"{repository}:{t}" for t in on_node]})
    basis = list(range(len(ev)))
    set_image = fixes.kubectl_of([fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, init, image=f"{repository}:<valid-tag>"))])
    node_fix = None
    healthy = fixes.healthy_previous(ctx.snap, owner)
    known = (
        _known_image(ctx, healthy, cname, repository, image, node_name, on_node)
        if mode not in ("image_pull.invalid_name", "image_pull.auth_or_missing_repo")
        else None
    )
    if known:
        # An image this cluster runs (or holds): the root fix; after a rollback to the healthy revision, remediation first.
        new_image, why = known
        new_tag = new_image.rsplit(":", 1)[1] if ":" in new_image.split("/")[-1] else None
        load = {"minikube": f"minikube image load {image}", "kind": f"kind load docker-image {image}"}.get(
            local_cluster or "", "e.g. ctr -n k8s.io images import on the node"
        )
        apply = ([fixes.undo_step(ctx.snap, owner)] if healthy else []) + [
            fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, init, image=new_image))
        ]
        node_fix = fixes.make(
            ctx.snap,
            owner,
            ("Roll back to the last healthy revision, then run " if healthy else "Run ")
            + f"{new_image} ({why}); or push/load {image} ({load}): pulling it needs a registry that has it",
            helm_set={"image.tag": new_tag} if new_tag else None,
            values=f"image:\n  tag: {new_tag}" if new_tag else None,
            apply=apply,
        )
    if mode == "image_pull.tag_not_found":
        issue.cause = {"text": f"Image {image} does not exist in the registry (tag {tag} not found)", "conf": conf, "basis": basis}
    elif mode == "image_pull.auth_or_missing_repo":
        issue.cause = {
            "text": f"The registry refused {image}: private without pull credentials, or the repository does not exist (registries answer both alike)",
            "conf": conf,
            "basis": basis,
        }
        secrets = [s.get("name") for s in (pod.get("spec") or {}).get("imagePullSecrets") or []]
        ev.append({"p": "spec.imagePullSecrets", "v": secrets or "none"})
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        pulls = sorted(n for n, k in ctx.snap.secrets.items() if k.exists and (k.type == "kubernetes.io/dockerconfigjson" or ".dockerconfigjson" in k.keys))
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            "Check the image name; for a private registry create a pull secret and reference it"
            + (f" (pull secrets here: {', '.join(pulls[:4])})" if pulls else ""),
            fixes.kubectl(
                ns, "create", "secret", "docker-registry", "regcred", "--docker-server=<registry>", "--docker-username=<user>", "--docker-password=<password>"
            )
            + " && "
            + fixes.kubectl_of([fixes.step("patch_resource", kind="serviceaccount", name=sa, namespace=ns, patch={"imagePullSecrets": [{"name": "regcred"}]})]),
            helm_set={"imagePullSecrets[0].name": "regcred"},
        )
    elif mode == "image_pull.local_image_not_loaded":
        load = f"minikube image load {image}" if local_cluster == "minikube" else f"kind load docker-image {image}"
        issue.cause = {
            "text": f"{image} looks like a locally built image that was never loaded into the "
            f"{local_cluster} node, so the kubelet tries docker.io and is refused",
            "conf": "medium",
            "basis": basis,
        }
        pull = [fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, init, imagePullPolicy="IfNotPresent"))]
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            f"Load the image into the node and stop pulling it: {load}, then set imagePullPolicy IfNotPresent",
            f"{load} && {fixes.kubectl_of(pull)}",  # the load runs where the image was built: no ops-mcp call does it
            helm_set={"image.pullPolicy": "IfNotPresent"},
            values="image:\n  pullPolicy: IfNotPresent",
        )
    elif mode == "image_pull.never_pull":
        issue.cause = {"text": f"imagePullPolicy Never and {image} is not on the node", "conf": "high", "basis": basis}
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            "Allow pulls with IfNotPresent (or load the image on the node)",
            helm_set={"image.pullPolicy": "IfNotPresent"},
            apply=[fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, init, imagePullPolicy="IfNotPresent"))],
        )
    elif mode == "image_pull.invalid_name":
        issue.cause = {"text": f"{image!r} is not a valid image reference (e.g. upper case, bad characters)", "conf": "high", "basis": basis}
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            "Use a valid lower-case image reference",
            set_image,
            helm_set={"image.repository": "<repo>", "image.tag": "<tag>"},
        )
    else:
        issue.cause = {"text": f"The registry for {image} cannot be reached (network, DNS, TLS or rate limit)", "conf": conf, "basis": basis}
        issue.fix = fixes.make(
            ctx.snap, owner, "Check node egress/DNS to the registry, or mirror the image to a reachable registry", None, verify=False, mutates=False
        )
    if local_cluster == "minikube" and mode in ("image_pull.local_image_not_loaded", "image_pull.never_pull"):
        issue.fix = minikube_fix(ctx, pod, owner, image, cspec, init)
    if node_fix:
        issue.fix = node_fix
        if on_node:
            issue.cause = {**issue.cause, "text": f"{issue.cause['text']}; node {node_name} has {', '.join(f'{repository}:{t}' for t in on_node)}"}
    elif mode == "image_pull.tag_not_found" or (on_node and mode not in ("image_pull.invalid_name", "image_pull.auth_or_missing_repo")):
        # no tag of the repository is known to work here: say so, with the candidates the node holds
        candidates = f"the node's tags {', '.join(on_node)}" if on_node else "no tag of it runs in this namespace or is on the node"
        issue.fix = fixes.make(
            ctx.snap, owner, f"Use a tag of {repository} that exists ({candidates}); check the registry's tags", None, verify=False, mutates=False
        )
    if not failed:
        issue.next.append(fixes.kubectl(ns, "get", "events", f"--field-selector=involvedObject.name={name_of(pod)}"))
    return issue


def _known_image(
    ctx: Context, healthy: Obj | None, cname: str, repository: str, image: str, node_name: str | None, on_node: list[str]
) -> tuple[str, str] | None:
    """(image, why) to run instead of a failing one: the last healthy revision's, a tag of the same repository that
    another workload of the namespace runs, or the one tag of it the node holds."""
    if healthy:
        old = container_spec(healthy.get("spec") or {}, cname).get("image")
        if old and old != image:
            return old, "the image of the last healthy revision"
    want = _canonical(repository)
    for spec in fixes.running_templates(ctx.snap):
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            other = c.get("image") or ""
            named = other.split("@", 1)[0]
            repo = named.rsplit(":", 1)[0] if ":" in named.split("/")[-1] else named
            if other != image and _canonical(repo) == want:
                return other, "it runs in this namespace"
    if len(on_node) == 1:
        return f"{repository}:{on_node[0]}", f"node {node_name} has it"
    return None


def minikube_fix(ctx: Context, pod: Obj, owner: str, image: str, cspec: Obj, init: bool) -> dict:
    """A local image on Minikube: load it into the node (`minikube image load`, outside the cluster: no ops-mcp tool
    can); a pull policy only changes when Always would pull it again, never to one that sends the kubelet to a
    registry that lacks it. Already on the node and Always: IfNotPresent is the whole fix."""
    policy = cspec.get("imagePullPolicy") or ("Always" if image.endswith(":latest") or ":" not in image.split("/")[-1] else "IfNotPresent")
    node_name = (pod.get("spec") or {}).get("nodeName")
    node = ctx.snap.by_name("nodes", node_name) if node_name else None
    on_node = any(_canonical(n) == _canonical(image) for e in ((node or {}).get("status") or {}).get("images") or [] for n in e.get("names") or [])
    pull = [fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cspec.get("name", ""), init, imagePullPolicy="IfNotPresent"))]
    if on_node and policy == "Always":
        return fixes.make(
            ctx.snap,
            owner,
            f"{image} is on the Minikube node; imagePullPolicy Always makes the kubelet pull it from a registry that lacks it: use IfNotPresent",
            helm_set={"image.pullPolicy": "IfNotPresent"},
            apply=pull,
        )
    load = f"minikube image load {image}"
    return fixes.make(
        ctx.snap,
        owner,
        f"Load the locally built image into the Minikube node: {load}"
        + (" and set imagePullPolicy IfNotPresent (Always would pull it again)" if policy == "Always" else "; the kubelet's next retry finds it"),
        f"{load} && {fixes.kubectl_of(pull)}" if policy == "Always" else None,  # the load alone: `do` says it
        helm_set={"image.pullPolicy": "IfNotPresent"} if policy == "Always" else None,
        note="Load it where the image was built (it reads the local Docker/Podman): no ops-mcp tool loads images.",
    )


def _canonical(repository: str) -> str:
    """A repository as the container runtime names it (docker.io/library/nginx for nginx)."""
    parts = repository.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["docker.io", *parts]
    if parts[0] in ("docker.io", "index.docker.io"):
        parts = ["docker.io", *(["library"] if len(parts) == 2 else []), *parts[1:]]
    return "/".join(parts)


def node_tags(ctx: Context, node_name: str | None, repository: str, image: str) -> list[str]:
    """Tags of `repository` (other than the one asked for) that the pod's node holds, from its status.images."""
    node = ctx.snap.by_name("nodes", node_name) if node_name else None
    want, tags = _canonical(repository), []
    for entry in ((node or {}).get("status") or {}).get("images") or []:
        for name in entry.get("names") or []:
            if "@" in name or ":" not in name.split("/")[-1]:
                continue
            repo, tag = name.rsplit(":", 1)
            if _canonical(repo) == want and f"{repository}:{tag}" != image and tag not in tags:
                tags.append(tag)
    return tags
