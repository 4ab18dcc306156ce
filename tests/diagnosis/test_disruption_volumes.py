"""Causes that were never considered (issue 24, "truthful evidence"), on plain snapshot data: PodDisruptionBudgets
whose own numbers refuse every eviction, a Pending claim whose named PersistentVolume still holds a deleted claim's
claimRef, and a CronJob target scoped to its own Jobs and their pods."""

from __future__ import annotations

import json

import pytest

from ops_mcp.diagnosis import TargetNotFound, builder, rbac
from ops_mcp.diagnosis.analyzers.disruption import budget, scaled
from ops_mcp.diagnosis.scope import normalize_kind

from .factories import NS, container, cstatus, deploy_pods, deployment, event, pod, replicaset, snapshot
from .test_analyzers import by_mode, run
from .test_remedies import _failed_job

# ---------- PodDisruptionBudgets ----------


def pdb(name, selector=None, status=None, generation=1, **rule):
    """A policy/v1 budget; `status` as the disruption controller writes it (None: not computed yet)."""
    body = {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": generation},
        "spec": {"selector": {"matchLabels": selector or {"app": "api"}} if selector != {} else {}, **rule},
    }
    if status is not None:
        body["status"] = {"observedGeneration": 1, **status}
    return body


def counted(expected, healthy, allowed):
    return {"expectedPods": expected, "currentHealthy": healthy, "desiredHealthy": healthy - allowed, "disruptionsAllowed": allowed}


def api(replicas=2, ready=None, budgets=(), **kw):
    ready = replicas if ready is None else ready
    pods = deploy_pods("api", ready)
    if replicas > ready:  # the unready ones: crashing, their own finding
        crash = cstatus(waiting="CrashLoopBackOff", restarts=4, last={"exitCode": 1, "reason": "Error"})
        pods += [pod(f"api-7d9c-x{i}", owner=("ReplicaSet", "api-7d9c"), labels={"app": "api"}, statuses=[crash]) for i in range(replicas - ready)]
    return snapshot(
        deployments=[deployment("api", replicas=replicas, ready=ready)],
        replicasets=[replicaset("api-7d9c", "api", replicas=replicas)],
        pods=pods,
        pdbs=list(budgets),
        **kw,
    )


def merge_patch_of(finding):
    (step,) = finding["fix"]["apply"]
    assert step["tool"] == "patch_resource" and step["args"]["kind"] == "poddisruptionbudget"
    assert step["args"]["patch_type"] == ("json" if isinstance(step["args"]["patch"], list) else "merge")
    assert step["args"]["namespace"] == NS and "wait" not in step["args"]
    assert "kubectl" in finding["fix"] and "patch poddisruptionbudget/" in finding["fix"]["kubectl"], "kubectl derived from apply"
    return step["args"]["name"], step["args"]["patch"]


@pytest.mark.parametrize(
    "replicas, rule, status, patch",
    [
        (2, {"minAvailable": 2}, counted(2, 2, 0), {"spec": {"minAvailable": 1}}),  # minAvailable = the expected pods
        (3, {"minAvailable": 5}, counted(3, 3, 0), {"spec": {"minAvailable": 2}}),  # above them
        (2, {"minAvailable": "60%"}, None, {"spec": {"minAvailable": 1}}),  # a percentage rounding up to all (no status yet)
        (2, {"maxUnavailable": 0}, counted(2, 2, 0), {"spec": {"maxUnavailable": 1}}),
        (3, {"maxUnavailable": "0%"}, None, {"spec": {"maxUnavailable": 1}}),
        (
            1,
            {"minAvailable": 1},
            counted(1, 1, 0),
            [{"op": "remove", "path": "/spec/minAvailable"}, {"op": "add", "path": "/spec/maxUnavailable", "value": 1}],
        ),  # one pod: minAvailable cannot
    ],
)
@pytest.mark.parametrize("target", [(None, None), ("deployment", "api")])
def test_a_budget_that_allows_no_eviction_with_every_pod_healthy_is_relaxed_from_the_clusters_numbers(replicas, rule, status, patch, target):
    out = run(api(replicas, budgets=[pdb("api", status=status, **rule)]), *target)
    f = out["findings"][0]
    assert f["mode"] == "pdb.blocks_eviction" and f["objs"] == ["PodDisruptionBudget/api"] and f["sev"] == "medium"
    assert merge_patch_of(f) == ("api", patch)
    assert f"all {replicas} of its {replicas} expected pods healthy" in f["cause"]["text"]
    evidence = {e["p"]: e["v"] for e in f["ev"]}
    assert evidence["status.disruptionsAllowed"] == 0 and evidence["status.expectedPods"] == replicas
    assert out["verdict"] == "degraded"


@pytest.mark.parametrize(
    "replicas, rule, status",
    [
        (2, {"minAvailable": 1}, counted(2, 2, 1)),
        (2, {"maxUnavailable": 1}, counted(2, 2, 1)),
        (3, {"maxUnavailable": "10%"}, None),  # rounds up to 1
        (3, {"minAvailable": "50%"}, None),  # 2 of 3
        (2, {}, None),  # neither set: every pod may go
    ],
)
def test_a_sane_budget_is_not_a_finding(replicas, rule, status):
    out = run(api(replicas, budgets=[pdb("api", status=status, **rule)]))
    assert out["verdict"] == "healthy" and not out.get("findings"), out.get("findings")
    assert "pdb" in out["ok"]


def test_no_disruption_allowed_because_pods_are_unhealthy_is_the_pods_failure_not_the_budgets():
    out = run(api(2, ready=1, budgets=[pdb("api", status=counted(2, 1, 0), maxUnavailable=1)]))
    assert not [f for f in out["findings"] if f["mode"].startswith("pdb.")]
    assert out["findings"], "the crashing pod is found by its own check"


def test_stale_status_is_recomputed_from_the_spec():
    # the controller has not seen generation 2 (maxUnavailable 0): its disruptionsAllowed 1 is for the old rule
    stale = pdb("api", status=counted(2, 2, 1), generation=2, maxUnavailable=0)
    assert budget(stale, deploy_pods("api", 2)) == (2, 2, 0)
    assert scaled("60%", 2) == 2 and scaled("10%", 3) == 1 and scaled(3, 9) == 3


def test_pods_two_budgets_select_are_refused_eviction_and_no_budget_is_picked_for_the_user():
    out = run(api(2, budgets=[pdb("api", status=counted(2, 2, 1), maxUnavailable=1), pdb("api-all", status=counted(2, 2, 1), maxUnavailable=1)]))
    f = by_mode(out, "pdb.blocks_eviction")
    assert f["ev"][0]["v"] == ["api", "api-all"] and "more than one budget" in f["cause"]["text"]
    assert f["fix"]["mutates"] is False and not f["fix"].get("apply")


def test_a_budget_selecting_nothing_protects_nothing_but_one_over_a_workload_at_zero_is_fine():
    out = run(api(1, budgets=[pdb("api-typo", selector={"app": "apii"}, status=counted(0, 0, 0), minAvailable=1)]))
    f = by_mode(out, "pdb.no_pods")
    assert f["sev"] == "low" and f["fix"]["mutates"] is False and not f["fix"].get("apply")
    idle = snapshot(deployments=[deployment("api", replicas=0, ready=0)], pdbs=[pdb("api", status=counted(0, 0, 0), minAvailable=1)])
    assert not run(idle).get("findings")


def test_a_budget_outside_the_target_is_not_in_its_scope():
    other = pdb("web", selector={"app": "web"}, status=counted(1, 1, 0), maxUnavailable=0)
    data = api(2, budgets=[other])
    data["deployments"].append(deployment("web"))
    data["pods"] += deploy_pods("web", 1)
    assert not run(data, "deployment", "api").get("findings")
    assert run(data, "deployment", "web")["findings"][0]["objs"] == ["PodDisruptionBudget/web"]


# ---------- a Pending claim naming a Released volume ----------


def claim(name, volume, uid=None):
    return {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS, "uid": uid or f"uid-{name}-2", "labels": {"app": "reports"}},
        "spec": {"storageClassName": "", "volumeName": volume, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
        "status": {"phase": "Pending"},
    }


def volume(name, claim_name, uid, phase="Released"):
    return {
        "metadata": {"name": name},
        "spec": {
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": NS, "name": claim_name, "uid": uid, "resourceVersion": "4242"},
        },
        "status": {"phase": phase},
    }


def released_data(old_claim="archive", new_claim="archive", phase="Released", with_pod=False):
    data = snapshot(
        pvcs=[claim(new_claim, "archive-pv")],
        persistentvolumes={"archive-pv": volume("archive-pv", old_claim, "uid-archive-1", phase)},
        events=[event("PersistentVolumeClaim", new_claim, "FailedBinding", 'volume "archive-pv" already bound to a different claim.', uid="uid-x")],
    )
    if with_pod:
        spec = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": new_claim}}]}
        unbound = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "pod has unbound immediate PersistentVolumeClaims"}]
        data["deployments"] = [deployment("reports", ready=0, pod_spec=spec)]
        data["replicasets"] = [replicaset("reports-7d9c", "reports")]
        data["pods"] = deploy_pods("reports", 1, phase="Pending", node=None, statuses=[], spec=spec, conditions=unbound)
    return data


@pytest.mark.parametrize("old_claim, target", [("archive", ("pvc", "archive")), ("archive-v1", ("pvc", "archive")), ("archive-v1", (None, None))])
def test_a_released_volume_with_a_stale_claim_ref_is_named_and_its_release_is_a_cluster_admins_command(old_claim, target):
    out = run(released_data(old_claim), *target)
    f = out["findings"][0]
    assert f["mode"] == "pvc.volume_released" and f["objs"] == ["PersistentVolumeClaim/archive"] and f["sev"] == "critical"
    evidence = {e.get("p"): e.get("v") for e in f["ev"]}
    assert evidence["PersistentVolume/archive-pv.status.phase"] == "Released"
    assert evidence["PersistentVolume/archive-pv.spec.claimRef"] == {"namespace": NS, "name": old_claim, "uid": "uid-archive-1"}
    assert evidence["metadata.uid"] == "uid-archive-2"
    assert ("same name" in f["cause"]["text"]) is (old_claim == "archive")
    fix = f["fix"]
    assert not fix.get("apply") and fix["mutates"] is True, "a cluster-scoped write: for a person, not an agent's call"
    patch = {"spec": {"claimRef": {"namespace": NS, "name": "archive", "uid": None, "resourceVersion": None}}}
    assert f"kubectl patch pv archive-pv --type=merge -p '{json.dumps(patch, separators=(',', ':'))}'" in fix["note"]
    assert "deleted claim's data" in fix["note"]


def test_the_workload_waiting_for_the_claim_is_linked_to_the_released_volume():
    out = run(released_data("reports-v1", "reports-v2", with_pod=True), "deployment", "reports")
    root, symptom = out["findings"][0], by_mode(out, "scheduling.unbound_pvc")
    assert root["mode"] == "pvc.volume_released" and symptom["caused_by"] == [root["id"]]


def test_a_volume_bound_to_another_live_claim_is_taken_and_nothing_is_offered_to_run():
    f = run(released_data("billing", phase="Bound"), "pvc", "archive")["findings"][0]
    assert f["mode"] == "pvc.volume_taken" and "Bound for claim shop/billing" in f["cause"]["text"]
    assert f["fix"]["mutates"] is False and not f["fix"].get("apply") and not f["fix"].get("note")


def test_a_volume_already_reserved_for_this_claim_or_not_read_is_not_a_finding():
    mine = released_data()
    mine["persistentvolumes"]["archive-pv"]["spec"]["claimRef"]["uid"] = "uid-archive-2"
    assert not [f for f in run(mine, "pvc", "archive").get("findings", []) if f["mode"].startswith("pvc.volume")]
    unread = released_data()
    unread["persistentvolumes"] = {}
    assert not [f for f in run(unread, "pvc", "archive").get("findings", []) if f["mode"].startswith("pvc.volume")]


def test_diagnose_declares_the_reads_once():
    needs = set(rbac())
    assert {("list", "poddisruptionbudgets.policy"), ("get", "persistentvolumes"), ("list", "cronjobs.batch")} <= needs
    from ops_mcp.tools.changes import PATCH_RBAC

    assert {"patch poddisruptionbudgets.policy", "patch cronjobs.batch"} <= set(PATCH_RBAC)
    assert builder.needed_lists(("pdb",), "Namespace")[-1] == "pdbs"


# ---------- a CronJob target ----------


def cronjob(name):
    return {"kind": "CronJob", "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"}, "spec": {"schedule": "* * * * *"}}


def cron_data():
    """CronJob rollup's run is OOM-killed; CronJob digest's run completed; a Deployment crashes beside them."""
    data = _failed_job(owner="rollup")
    done = {
        "kind": "Job",
        "metadata": {
            "name": "digest-2901",
            "namespace": NS,
            "uid": "uid-digest-2901",
            "ownerReferences": [{"kind": "CronJob", "name": "digest", "controller": True}],
        },
        "spec": {"template": {"spec": {"containers": [container("main")]}}},
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    }
    crash = cstatus(waiting="CrashLoopBackOff", restarts=5, last={"exitCode": 1, "reason": "Error"})
    data["jobs"].append(done)
    data["pods"] += [pod("digest-2901-x", owner=("Job", "digest-2901"), phase="Succeeded", statuses=[cstatus("main", terminated={"exitCode": 0})], ready=False)]
    data["pods"] += [pod("web-7d9c-0", owner=("ReplicaSet", "web-7d9c"), labels={"app": "web"}, statuses=[crash])]
    data["deployments"] = [deployment("web", ready=0)]
    data["replicasets"] = [replicaset("web-7d9c", "web")]
    data["cronjobs"] = [cronjob("rollup"), cronjob("digest")]
    return data


def test_a_cronjob_target_is_its_jobs_and_their_pods_and_its_fix_changes_its_template():
    out = run(cron_data(), "cronjob", "rollup")
    assert out["target"] == {"kind": "CronJob", "ns": NS, "name": "rollup"}
    assert [f["mode"] for f in out["findings"]][:1] == ["job.failed"], "the Deployment beside it is not in scope"
    assert all(not o.startswith("Pod/web") for f in out["findings"] for o in f["objs"])
    (step,) = out["findings"][0]["fix"]["apply"]
    assert step["args"]["kind"] == "cronjob" and step["args"]["name"] == "rollup"
    assert out["limits"]["pods"] == 1
    assert run(cron_data(), "cj", "digest")["verdict"] == "healthy"


def test_an_unknown_cronjob_names_the_near_ones():
    with pytest.raises(TargetNotFound) as err:
        run(cron_data(), "cronjob", "rolup")
    assert err.value.suggestions == ["rollup"]
    assert normalize_kind("cronjobs") == "CronJob"
