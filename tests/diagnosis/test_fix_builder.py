"""One fix builder (issue 24): an analyzer hands `fixes.make` a structured remedy (the calls of `apply`) and the
builder derives the command line from it (`kubectl_of`), after a Helm release's repair too; a command for a person
(what the cluster does not hold, or what no ops-mcp call does) goes to the note, never beside a fix's calls.

test_analyzers.run checks the invariant on every report the diagnosis tests make (`fix_invariant.check_report`); the
tests below check the builder itself and that the snapshot scenarios of the suite hold it."""

from __future__ import annotations

import inspect

import pytest

from ops_mcp.diagnosis import diagnose_snapshot, fixes
from ops_mcp.diagnosis.snapshot import Snapshot

from . import test_analyzers, test_fix_apply, test_fixes_from_cluster, test_release_repair, test_remedies, test_targets
from .factories import NS, container, deployment, pod, snapshot
from .fix_invariant import COUNTS, check_fix, check_report
from .test_release_repair import broken_image_release


def snap(**kinds) -> Snapshot:
    return Snapshot.from_dict(snapshot(**kinds))


def patch(kind, name, body, patch_type=None):
    return fixes.step("patch_resource", kind=kind, name=name, namespace=NS, patch=body, patch_type=patch_type)


def template(cname, **fields):
    return {"spec": {"template": {"spec": {"containers": [{"name": cname, **fields}]}}}}


@pytest.mark.parametrize(
    ("call", "command"),
    [
        (patch("deployment", "api", template("app", image="nginx:1.27")), "kubectl -n shop set image deploy/api app=nginx:1.27"),
        (
            patch("statefulset", "db", template("pg", resources={"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi", "cpu": "1"}})),
            "kubectl -n shop set resources statefulset/db -c pg --limits=memory=1Gi --requests=memory=1Gi,cpu=1",
        ),
        (
            patch("deployment", "api", template("app", env=[{"name": "URL", "value": "http://db:5432"}])),
            "kubectl -n shop set env deploy/api -c app URL=http://db:5432",
        ),
        (
            patch("deployment", "api", template("app", env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "K"}}}])),
            "kubectl -n shop set env deploy/api -c app --from=secret/s --keys=K",
        ),
        (patch("deployment", "api", {"spec": {"paused": False}}), "kubectl -n shop rollout resume deploy/api"),
        (
            patch("service", "web", {"spec": {"selector": {"app": "web"}}}, "merge"),
            """kubectl -n shop patch svc/web --type=merge -p '{"spec":{"selector":{"app":"web"}}}'""",
        ),
        (
            patch("deployment", "api", [{"op": "remove", "path": "/spec/template/spec/containers/0/command"}], "json"),
            """kubectl -n shop patch deploy/api --type=json -p '[{"op":"remove","path":"/spec/template/spec/containers/0/command"}]'""",
        ),
        (  # a variable named otherwise than its key: kubectl's set env cannot say it, the patch can
            patch("deployment", "api", template("app", env=[{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}])),
            """kubectl -n shop patch deploy/api -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"PW","valueFrom":"""
            """{"secretKeyRef":{"name":"s","key":"pw"}}}]}]}}}}'""",
        ),
        (fixes.step("apply_manifest", manifest=[{"kind": "Service"}], namespace=NS), "kubectl -n shop apply -f MANIFEST.yaml  # fix.apply[0].args.manifest"),
        (
            fixes.step("apply_manifest", manifest=[{}], namespace=NS, replace=True),
            "kubectl -n shop replace --force -f MANIFEST.yaml  # fix.apply[0].args.manifest",
        ),
        (fixes.step("delete_resource", kind="persistentvolumeclaim", name="data", namespace=NS), "kubectl -n shop delete pvc/data"),
        (
            fixes.step("scale_deployment", name="api", replicas=2, namespace=NS, kind="statefulset", wait=True),
            "kubectl -n shop scale statefulset/api --replicas=2",
        ),
        (fixes.step("rollout_undo", name="api", namespace=NS, wait=True), "kubectl -n shop rollout undo deploy/api"),
        (fixes.step("rollout_undo", name="api", namespace=NS, revision=3), "kubectl -n shop rollout undo deploy/api --to-revision=3"),
        (fixes.step("rollout_restart", name="ds", namespace=NS, kind="daemonset"), "kubectl -n shop rollout restart daemonset/ds"),
        (fixes.step("rollback_release", name="shop", namespace=NS, revision=1), "helm rollback shop 1 -n shop"),
        # the release's own chart is in its record, which helm's command line cannot name: the fix's `helm` says it
        (fixes.step("deploy_chart", release="shop", namespace=NS, values={"image": {"tag": "1"}}), None),
    ],
)
def test_the_command_line_is_built_from_the_call(call, command):
    assert fixes.kubectl_of([call]) == command


def test_calls_are_joined_and_one_without_a_command_line_leaves_apply_alone():
    undo, image = fixes.step("rollout_undo", name="api", namespace=NS), patch("deployment", "api", template("app", image="a:1"))
    assert fixes.kubectl_of([undo, image]) == "kubectl -n shop rollout undo deploy/api && kubectl -n shop set image deploy/api app=a:1"
    # a manifest's file is named after the whole chain: a comment in the middle would end it
    manifest, restart = fixes.step("apply_manifest", manifest=[{}], namespace=NS), fixes.step("rollout_restart", name="api", namespace=NS)
    assert fixes.kubectl_of([manifest, restart]) == (
        "kubectl -n shop apply -f MANIFEST.yaml && kubectl -n shop rollout restart deploy/api  # fix.apply[0].args.manifest"
    )
    assert fixes.kubectl_of([manifest, manifest]) == (
        "kubectl -n shop apply -f MANIFEST-0.yaml && kubectl -n shop apply -f MANIFEST-1.yaml"
        "  # MANIFEST-0.yaml: fix.apply[0].args.manifest, MANIFEST-1.yaml: fix.apply[1].args.manifest"
    )
    assert fixes.kubectl_of([undo, fixes.step("deploy_chart", release="r", namespace=NS)]) is None


def test_a_hand_written_command_beside_apply_is_never_the_fix_s_command():
    s = snap(deployments=[deployment("api")])
    step = fixes.patch_step(s, "Deployment/api", fixes.container_patch("Deployment/api", "app", image="a:2"))
    fix = fixes.make(s, "Deployment/api", "Run a:2", "kubectl -n shop set image deploy/api app=a:3", apply=[step])
    assert fix["kubectl"] == fixes.kubectl_of([step]) == "kubectl -n shop set image deploy/api app=a:2" and "note" not in fix
    check_fix(fix)


def test_what_the_cluster_does_not_hold_is_a_person_s_template_with_no_command_and_no_apply():
    s = snap(deployments=[deployment("api")])
    fix = fixes.make(s, "Deployment/api", "Set X (candidates: none)", "kubectl -n shop set env deploy/api X=<value>", mutates=False)
    assert fix["kubectl"] is None and "apply" not in fix
    assert fix["note"] == "For a person to fill in (the cluster does not hold it): `kubectl -n shop set env deploy/api X=<value>`."
    # a call with a placeholder is no call: it becomes the template, the calls before it stay
    undo = fixes.undo_step(s, "Deployment/api")
    fill = fixes.patch_step(s, "Deployment/api", fixes.container_patch("Deployment/api", "app", env=[{"name": "X", "value": "<value>"}]))
    fix = fixes.make(s, "Deployment/api", "Roll back, then set X", apply=[undo, fill])
    assert fix["apply"] == [undo] and fix["kubectl"] == "kubectl -n shop rollout undo deploy/api"
    assert "`kubectl -n shop set env deploy/api -c app 'X=<value>'`" in fix["note"]
    check_fix(fix)


def test_a_command_no_ops_mcp_call_makes_is_a_person_s_to_run():
    s = snap(deployments=[deployment("api")])
    fix = fixes.make(s, "Deployment/api", "Load the image", "minikube image load a:dev", mutates=False)
    assert fix["kubectl"] is None and fix["note"] == "For a person to run: `minikube image load a:dev`."


def test_a_change_the_api_server_refuses_in_place_is_recreated_by_hand():
    bare = pod("solo")
    s = snap(pods=[bare])
    resources = fixes.patch_step(s, "Pod/solo", fixes.container_patch("Pod/solo", "app", resources={"limits": {"memory": "1Gi"}}))
    fix = fixes.make(s, "Pod/solo", "Raise the limit", apply=[resources])
    assert "apply" not in fix and fix["kubectl"] is None
    assert fix["note"].startswith("Pod solo: its spec is immutable") and "set resources pod/solo" in fix["note"]
    image = fixes.patch_step(s, "Pod/solo", fixes.container_patch("Pod/solo", "app", image="a:2"))
    assert fixes.make(s, "Pod/solo", "Run a:2", apply=[image])["apply"] == [image], "a pod's image changes in place"
    job = {"kind": "Job", "metadata": {"name": "batch", "namespace": NS, "uid": "u"}, "spec": {"template": {"spec": {"containers": [container()]}}}}
    s = snap(jobs=[job])
    step = fixes.patch_step(s, "Job/batch", fixes.container_patch("Job/batch", "app", resources={"limits": {"memory": "1Gi"}}))
    fix = fixes.make(s, "Job/batch", "Raise the limit", apply=[step])
    assert "apply" not in fix and fix["note"].startswith("Job batch: its pod template is immutable")


def test_the_command_follows_the_release_operation_that_replaces_the_live_change():
    out = diagnose_snapshot(broken_image_release()).dump()
    check_report(out)
    fix = next(f["fix"] for f in out["findings"] if f["mode"] == "image_pull.tag_not_found")
    assert [s["tool"] for s in fix["apply"]] == ["rollback_release"] and fix["kubectl"] == f"helm rollback shop 1 -n {NS}"
    out = diagnose_snapshot(broken_image_release(previous_served=False)).dump()
    check_report(out)
    fix = next(f["fix"] for f in out["findings"] if f["mode"] == "image_pull.tag_not_found")
    assert [s["tool"] for s in fix["apply"]] == ["deploy_chart"] and "kubectl" not in fix, "no live patch beside a release upgrade"
    assert fix["helm"] == f"helm upgrade shop shop -n {NS} --reuse-values --set image.tag=1.27.3"


MODULES = (test_analyzers, test_fix_apply, test_fixes_from_cluster, test_release_repair, test_remedies, test_targets)


def _scenarios():
    """Every snapshot-based test of the suite (a function of no argument, or parametrized ones left to conftest)."""
    for module in MODULES:
        for name, fn in sorted(vars(module).items()):
            if name.startswith("test_") and inspect.isfunction(fn) and not inspect.signature(fn).parameters:
                yield pytest.param(fn, id=f"{module.__name__.rsplit('.', 1)[1]}::{name}")


def test_every_snapshot_scenario_of_the_suite_keeps_the_invariant():
    """Run the suite's snapshot scenarios again: each checks its reports' fixes (test_analyzers.run), and together
    they check enough of them to mean something."""
    before = dict(COUNTS)
    for param in _scenarios():
        (fn,) = param.values
        fn()
    seen = {k: COUNTS[k] - before[k] for k in COUNTS}
    assert seen["reports"] > 100 and seen["fixes"] > 100 and seen["commands"] > 50, seen
