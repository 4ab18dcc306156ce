"""The only module that runs helm: pyhelm3's command builder over the helm binary.

pyhelm3 builds the argument lists and parses helm's JSON; we replace its runner, which
joins the arguments into a shell string, with an exec of the argument list (no shell),
bounded by a timeout, and translate helm's stderr into OpsError messages with a next step.
The binary is OPS_MCP_HELM_BINARY or `helm` on PATH.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import ipaddress
import json
import os
import re
import shutil
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ops_mcp.errors import Forbidden, NotFound, OpsError, Unreachable
from ops_mcp.redact import redact_text
from ops_mcp.settings import Settings


def _command_class():
    from pyhelm3.command import Command  # imported lazily: pyhelm3 pulls in pydantic models

    class ExecCommand(Command):
        """pyhelm3 Command whose runner execs an argument list (never a shell string)."""

        def __init__(self, *, run_timeout: float, env: dict[str, str], **kw: Any):
            super().__init__(**kw)
            self._run_timeout = run_timeout
            self._env = env

        async def run(self, command: list[Any], input: bytes | None = None) -> bytes:
            argv = [self._executable] + [str(part) for part in command]
            if self._kubeconfig:
                argv += ["--kubeconfig", str(self._kubeconfig)]
            if self._kubecontext:
                argv += ["--kube-context", self._kubecontext]
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=self._env,
                )
            except FileNotFoundError:
                raise OpsError(f"The helm binary {self._executable!r} was not found.", "install helm or set OPS_MCP_HELM_BINARY.") from None
            try:
                stdout, stderr = await asyncio.wait_for(proc.communicate(input), timeout=self._run_timeout)
            except (TimeoutError, asyncio.CancelledError):
                proc.kill()
                await proc.wait()
                if asyncio.current_task() and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
                raise Unreachable(
                    f"helm {command[0]} did not finish within {self._run_timeout:.0f}s.", "check the cluster's health and retry with a longer timeout."
                ) from None
            if proc.returncode != 0:
                raise translate_helm_error(str(command[0]), stderr.decode("utf-8", "replace"))
            return stdout

    return ExecCommand


# Every release state (helm 4 dropped `list --all`; these flags work on helm 3 and 4).
ALL_STATES = ("--deployed", "--failed", "--pending", "--uninstalling")


def translate_helm_error(verb: str, stderr: str) -> OpsError:
    """helm's stderr as an OpsError with a next step. Chart-source failures are told apart from
    cluster failures: both can say "connection refused", but only one is the cluster's."""
    text = redact_text(stderr.strip())
    low = text.lower()
    first = text.splitlines()[-1] if text else "(no output)"
    first = first[:400]
    if "is not a valid chart repository or cannot be reached" in low:
        return Unreachable(
            f"helm {verb}: the chart repository could not be read ({first}).",
            "check the repo URL (it must serve index.yaml) and that it is reachable from the ops-mcp server; then retry.",
        )
    if CHART_NOT_IN_REPO.search(text):
        return NotFound(
            f"helm {verb}: {first}",
            "check the chart name and the versions the repository offers (its index.yaml, or helm search repo); omit version for the newest.",
        )
    if OCI_REGISTRY.search(text):
        if OCI_MISSING.search(text):
            return NotFound(
                f"helm {verb}: the OCI registry has no such chart or version ({first}).",
                "check the oci:// path and version (the registry's tags, e.g. crane ls <host>/<path>); omit version for the newest.",
            )
        return Unreachable(
            f"helm {verb}: the OCI registry could not serve the chart ({first}).",
            "check the oci:// reference (host/path, tag via version) and that the registry is reachable and you are logged in (helm registry login); then retry.",
        )
    if "release: not found" in low or "release not loaded" in low:
        return NotFound(f"helm {verb}: release not found ({first}).", "list_releases shows the releases in that namespace.")
    if "forbidden" in low:
        return Forbidden(
            f"helm {verb} was forbidden by RBAC: {first}",
            "grant the server's identity the verbs helm needs (secrets for release storage, plus the chart's resources).",
        )
    if "kubernetes cluster unreachable" in low or "connection refused" in low or "no such host" in low:
        return Unreachable(
            f"helm {verb}: the Kubernetes cluster is unreachable ({first}).", "check the cluster is running and the kubeconfig/context; then retry."
        )
    if "context deadline exceeded" in low or "timed out" in low:
        return OpsError(
            f"helm {verb} timed out waiting for resources to become ready ({first}).",
            "inspect with get_app_status / get_events; the change was rolled back if rollback was enabled.",
        )
    if "failed to render" in low or "execution error" in low or "parse error" in low or "error converting yaml" in low:
        return OpsError(f"helm {verb}: the chart failed to render: {first}", "fix the values or the chart templates.")
    if "another operation" in low and "in progress" in low:
        return OpsError(
            f"helm {verb}: another helm operation is in progress on this release ({first}).", "wait for it to finish (release_history), or roll back."
        )
    if "no revision" in low or "has no deployed releases" in low:
        return NotFound(f"helm {verb}: {first}", "release_history lists the revisions you can use.")
    return OpsError(f"helm {verb} failed: {first}")


# `chart "x" not found in URL repository` / `chart "x" version "v" not found in URL repository`
CHART_NOT_IN_REPO = re.compile(r'chart "[^"]*"(?: version "[^"]*")? not found in ')
# Registry (OCI distribution API) requests, `"https://host/v2/<name>/..."`, or ORAS operations
# `failed to perform "FetchReference" on source: host/name:tag: not found`.
OCI_REGISTRY = re.compile(r'"https?://[^"/]+/v2/|failed to perform "\w+" on source')
OCI_MISSING = re.compile(r"status code 404|name unknown|manifest unknown|: not found$", re.MULTILINE)


def check_chart_source(url: str, what: str) -> None:
    """A chart is code the server applies with its privileges: fetch it over TLS (https://,
    oci://), or plain http:// from this machine's loopback only (a port-forward, a test repo)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme in ("https", "oci") and host:
        return
    if scheme == "http" and is_loopback(host):
        return
    raise OpsError(
        f"{what} {url!r}: only https:// and oci:// chart sources are accepted (plain http:// on loopback only).",
        "use an https repository, an oci:// reference, or a local chart path.",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_chart(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or (os.sep in ref and not ref.startswith("oci://") and Path(ref).exists())


# The oldest helm whose flags this module uses: --dry-run=server (3.13); helm 4 renamed --atomic.
MIN_HELM3 = (3, 13)


def parse_version(text: str) -> tuple[int, int]:
    """'v4.1.4+g05fa379' -> (4, 1)."""
    m = re.match(r"v?(\d+)\.(\d+)", text.strip())
    if not m:
        raise OpsError(f"Cannot read the helm version from {text.strip()[:80]!r}.", "install helm 3.13+ or 4.x, or point OPS_MCP_HELM_BINARY at one.")
    return int(m.group(1)), int(m.group(2))


def check_version(version: tuple[int, int], text: str) -> None:
    if version[0] < 3 or (version[0] == 3 and version < MIN_HELM3):
        raise OpsError(
            f"helm {text.strip()} is too old: ops-mcp needs helm 3.13+ or 4.x (--dry-run=server).", "install a newer helm, or set OPS_MCP_HELM_BINARY to one."
        )


class Helm:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._cmd: Any = None
        self._version: tuple[int, int] | None = None

    async def major(self) -> int:
        """helm's major version (3 or 4), read once: the two name some flags differently."""
        if self._version is None:
            text = await self.version()
            version = parse_version(text)
            check_version(version, text)
            self._version = version
        return self._version[0]

    @property
    def binary(self) -> str:
        configured = self.settings.helm_binary
        found = configured if configured and Path(configured).is_file() else shutil.which(configured or "helm")
        if not found:
            raise OpsError(
                f"The helm binary was not found ({'OPS_MCP_HELM_BINARY=' + configured if configured else 'not on PATH'}).",
                "install helm 3.x/4.x or set OPS_MCP_HELM_BINARY to its path.",
            )
        return found

    def command(self) -> Any:
        if self._cmd is None:
            s = self.settings
            env = dict(os.environ)
            kubeconfig = s.kubeconfig
            self._cmd = _command_class()(
                executable=self.binary,
                kubeconfig=kubeconfig,
                kubecontext=s.context,
                default_timeout=f"{s.helm_timeout}s",
                history_max_revisions=10,
                run_timeout=float(s.helm_timeout + 60),
                env=env,
            )
        return self._cmd

    # -- reads -----------------------------------------------------------------------------
    async def list_releases(self, namespace: str | None) -> list[dict[str, Any]]:
        args = ["list", *ALL_STATES, "--output", "json", "--max", "500"]
        args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
        return json.loads(await self.command().run(args) or b"[]")

    async def release_status(self, name: str, namespace: str) -> dict[str, Any] | None:
        """{name, namespace, revision, status, chart, app_version, updated} or None if absent."""
        args = ["list", *ALL_STATES, "--output", "json", "--namespace", namespace, "--filter", f"^{name}$"]
        rows = json.loads(await self.command().run(args) or b"[]")
        return rows[0] if rows else None

    async def history(self, name: str, namespace: str, max_revisions: int = 20) -> list[dict[str, Any]]:
        return list(await self.command().history(name, namespace=namespace, max_revisions=max_revisions))

    async def get_values(self, name: str, namespace: str, revision: int | None = None, all_values: bool = False) -> dict[str, Any]:
        args = ["get", "values", name, "--output", "json", "--namespace", namespace]
        if all_values:
            args.append("--all")
        if revision:
            args += ["--revision", revision]
        return json.loads(await self.command().run(args) or b"{}") or {}

    async def get_manifest(self, name: str, namespace: str, revision: int | None = None) -> str:
        args: list[Any] = ["get", "manifest", name, "--namespace", namespace] + (["--revision", revision] if revision else [])
        return (await self.command().run(args)).decode()

    async def get_hooks(self, name: str, namespace: str, revision: int | None = None) -> str:
        """The manifests of the release's hooks (a pre-install Secret, a test Pod), which get_manifest leaves out."""
        args: list[Any] = ["get", "hooks", name, "--namespace", namespace] + (["--revision", revision] if revision else [])
        return (await self.command().run(args)).decode()

    # -- writes ----------------------------------------------------------------------------
    async def upgrade(
        self,
        name: str,
        chart: str,
        namespace: str,
        values: dict[str, Any],
        *,
        version: str | None,
        repo: str | None,
        wait: bool,
        timeout_s: int,
        rollback_on_failure: bool,
        dry_run: bool,
        stalled: bool = False,
    ) -> dict[str, Any]:
        args: list[Any] = [
            "upgrade",
            name,
            chart,
            "--install",
            "--output",
            "json",
            "--values",
            "-",
            "--namespace",
            namespace,
            "--create-namespace",
            "--history-max",
            10,
            "--timeout",
            f"{timeout_s}s",
        ]
        if version:
            args += ["--version", version]
        if chart.startswith("oci://") and is_loopback(urlsplit(chart).hostname or ""):
            args.append("--plain-http")  # registries on loopback (port-forwards, tests) speak plain HTTP; see check_chart_source
        if repo:
            args += ["--repo", repo]
        if dry_run:
            args.append("--dry-run=server")
        else:
            if rollback_on_failure:  # implies --wait; helm 3 calls it --atomic
                args.append("--rollback-on-failure" if await self.major() >= 4 else "--atomic")
            if rollback_on_failure or wait:
                args.append(await self._wait_flag(stalled))
        out = await self.command().run(args, json.dumps(values).encode())
        return json.loads(out[out.index(b"{") :])

    async def rollback(self, name: str, namespace: str, revision: int | None, *, wait: bool, timeout_s: int, stalled: bool = False) -> None:
        args: list[Any] = ["rollback", name]
        if revision:
            args.append(revision)
        args += ["--namespace", namespace, "--history-max", 10, "--timeout", f"{timeout_s}s"]
        if wait:
            args.append(await self._wait_flag(stalled))
        await self.command().run(args)

    async def _wait_flag(self, stalled: bool) -> str:
        """stalled: a Deployment of the release has exceeded its progress deadline. helm 4's default waiter (kstatus)
        takes that condition for a final failure and gives up at once, before the controller has rolled out the
        change that would clear it (a template back to a ReplicaSet that still runs never "progresses" while the
        failed pods terminate); helm 3's readiness checks, helm 4's --wait=legacy, wait for the new ReplicaSet."""
        return "--wait=legacy" if stalled and await self.major() >= 4 else "--wait"

    async def uninstall(self, name: str, namespace: str, *, wait: bool, timeout_s: int) -> None:
        args: list[Any] = ["uninstall", name, "--namespace", namespace, "--timeout", f"{timeout_s}s"]
        if wait:
            args.append("--wait")
        await self.command().run(args)

    async def version(self) -> str:
        return (await self.command().run(["version", "--short"])).decode().strip()


def release_status_from_storage(cluster: Any, name: str, namespace: str) -> dict[str, Any] | None:
    """A release's latest revision and status from helm's storage labels (one API list, no helm exec).

    Helm keeps each revision in a Secret (or ConfigMap with HELM_DRIVER=configmap) labelled
    owner=helm, name=<release>, version=<n>, status=<status>; the payload is never decoded here.
    """
    selector = f"owner=helm,name={name}"
    for kind in ("secrets", "configmaps"):
        items = cluster.list(kind, namespace, label_selector=selector, limit=100).get("items") or []
        revisions = [((i.get("metadata") or {}).get("labels") or {}) for i in items]
        revisions = [r for r in revisions if str(r.get("version", "")).isdigit()]
        if revisions:
            latest = max(revisions, key=lambda r: int(r["version"]))
            return {"name": name, "namespace": namespace, "revision": int(latest["version"]), "status": latest.get("status")}
    return None


# helm's storage: a Secret of this type (driver "secret", the default) or a ConfigMap (driver "configmap") per revision,
# named sh.helm.release.v1.<release>.v<revision>; its labels (owner=helm, name, version, status) are not relied on.
RECORD_TYPE = "helm.sh/release.v1"
RECORD_NAME = re.compile(r"^sh\.helm\.release\.v1\.(?P<release>.+)\.v(?P<revision>\d+)$")
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def release_records(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    """Every release revision stored in the namespace, newest last: {release, revision, status, kind, object}
    (status from the storage label, None when it has none). Metadata only: no payload is read."""
    out = []
    for kind, selector in (("secrets", f"type={RECORD_TYPE}"), ("configmaps", None)):
        path = f"/api/v1/namespaces/{namespace}/{kind}"
        try:
            page = cluster.request("GET", path, query={"fieldSelector": selector}, accept=_METADATA_LIST, verb="list", resource=kind, namespace=namespace)
        except Forbidden:
            if kind == "secrets":
                raise
            continue  # the configmap driver is the rare one: an identity that may not list ConfigMaps has none to read
        for item in page.get("items") or []:
            meta = item.get("metadata") or {}
            m = RECORD_NAME.match(meta.get("name") or "")
            if m:
                labels = meta.get("labels") or {}
                out.append({"release": m["release"], "revision": int(m["revision"]), "status": labels.get("status"), "kind": kind, "object": meta["name"]})
    return sorted(out, key=lambda r: (r["release"], r["revision"]))


def read_record(cluster: Any, namespace: str, record: dict[str, Any]) -> dict[str, Any]:
    """One revision's stored release (name, version, info, chart, config = the user-supplied values, manifest, hooks):
    the Secret's data is base64 of helm's own encoding (base64 of gzip'd JSON), a ConfigMap's is helm's encoding."""
    kind = record["kind"]
    obj = cluster.request("GET", f"/api/v1/namespaces/{namespace}/{kind}/{record['object']}", verb="get", resource=kind, namespace=namespace)
    payload = ((obj.get("data") or {}).get("release")) or ""
    try:
        raw = base64.b64decode(base64.b64decode(payload) if kind == "secrets" else payload)
        return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (ValueError, OSError, EOFError, zlib.error):
        raise OpsError(f"{record['object']} does not hold a Helm release record helm can read.", "check it with release_history.") from None


def latest_record(cluster: Any, name: str, namespace: str) -> dict[str, Any] | None:
    """The newest stored revision of a release in the storage ops-mcp's helm uses (HELM_DRIVER), decoded (None when
    the namespace holds none)."""
    kind = "configmaps" if os.environ.get("HELM_DRIVER", "").lower() in ("configmap", "configmaps") else "secrets"
    revisions = [r for r in release_records(cluster, namespace) if r["release"] == name and r["kind"] == kind]
    return read_record(cluster, namespace, revisions[-1]) if revisions else None


def write_chart(release: dict[str, Any], root: Path) -> Path:
    """The chart a release was installed or upgraded with, as a chart directory under root, from its stored record
    (Chart.yaml, values.yaml, schema, templates and files). The record holds no subcharts: a chart with
    dependencies cannot be rebuilt from it."""
    chart = release.get("chart") or {}
    metadata = chart.get("metadata") or {}
    if metadata.get("dependencies"):
        raise OpsError(
            f"Release {release.get('name')!r} uses chart {metadata.get('name')} with subcharts, which helm does not keep in the release record.",
            "pass chart= (the chart's directory, repository or oci:// reference) with the same version.",
        )
    root = root.resolve()
    files = {"Chart.yaml": yaml.safe_dump(metadata, sort_keys=False).encode(), "values.yaml": yaml.safe_dump(chart.get("values") or {}).encode()}
    if chart.get("schema"):
        files["values.schema.json"] = base64.b64decode(chart["schema"])
    for item in (chart.get("templates") or []) + (chart.get("files") or []):
        files[item["name"]] = base64.b64decode(item.get("data") or "")
    for name, data in files.items():
        path = (root / name).resolve()
        if not path.is_relative_to(root) or path == root:
            raise OpsError(f"Release {release.get('name')!r}: its stored chart names a file outside the chart ({name!r}).", "pass chart= explicitly.")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def merge_values(base: Any, change: Any) -> Any:
    """helm's merge of values over values (--reuse-values, -f after -f): maps merge key by key, anything else
    (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(change, dict):
        return {**base, **{k: merge_values(base.get(k), v) if k in base else v for k, v in change.items()}}
    return change


def manifest_objects(manifest: str) -> dict[str, dict[str, Any]]:
    """'Kind/namespace/name' -> object, for every document of a rendered manifest."""
    out: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(manifest or ""):
        if isinstance(doc, dict) and doc.get("kind"):
            meta = doc.get("metadata") or {}
            out[f"{doc['kind']}/{meta.get('name')}"] = doc
    return out
