"""The repair of an object that a Helm release manages is a release operation (issue 24): a rollback to the previous
revision when it served, else deploy_chart with the values change found in the release's values, else the live change
with the reason. And a release target is found from its stored records, whatever its status. On plain snapshot data:
`releases` holds the stored records as the builder decodes them."""

from __future__ import annotations

import pytest
import yaml

from ops_mcp.diagnosis import TargetNotFound, diagnose_snapshot

from .factories import NS, container, deployment, replicaset
from .test_analyzers import by_mode, run
from .test_fix_apply import NOT_FOUND, applied, image_pod, probe_data, revisions, with_revision


def helm(obj, release="shop"):
    obj.pop("kind", None)  # as a list's items come: without their kind
    obj["metadata"]["labels"].update({"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": release, "helm.sh/chart": "shop-1.2.3"})
    obj["metadata"]["annotations"] = {**obj["metadata"].get("annotations", {}), "meta.helm.sh/release-name": release}
    return obj


def rendered(name, containers, labels=None):
    """A Deployment as the chart renders it (no status, no server defaults)."""
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}},
    }


def stored(*revs, release="shop", defaults=None, kind="secrets"):
    """A release's stored revisions: (status, user-supplied values, rendered objects), oldest first."""
    out = []
    for n, (status, config, objects) in enumerate(revs, 1):
        record = {
            "name": release,
            "version": n,
            "info": {"status": status, "description": "Upgrade complete"},
            "chart": {"metadata": {"name": "shop", "version": "1.2.3"}, "values": defaults or {}},
            "config": config,
            "manifest": yaml.safe_dump_all(objects),
        }
        out.append({"revision": n, "status": status, "kind": kind, "object": f"sh.helm.release.v1.{release}.v{n}", "record": record})
    return {release: out}


GOOD, BAD = container("nginx", "nginx:1.27.3"), container("nginx", "nginx:1.27-typo")


def broken_image_release(previous_served=True, config=None):
    data = image_pod("nginx:1.27-typo", events=NOT_FOUND)
    data["deployments"] = [helm(with_revision(d)) for d in data["deployments"]]
    data["replicasets"] = revisions("app", [GOOD], [BAD], available=1 if previous_served else 0)
    if not previous_served:  # the tag the fix sets: one another workload runs
        data["replicasets"].append(replicaset("proxy-1", "proxy", 1, containers=[container("web", "nginx:1.27.3")], available=1))
    config = config or {"image": {"repository": "nginx", "tag": "1.27-typo"}}
    data["releases"] = stored(
        ("superseded", {"image": {"repository": "nginx", "tag": "1.27.3"}}, [rendered("app", [GOOD])]),
        ("deployed", config, [rendered("app", [BAD])]),
    )
    return data


def test_a_broken_upgrade_is_repaired_by_rolling_the_release_back_to_the_revision_that_served():
    f = by_mode(run(broken_image_release()), "image_pull.tag_not_found")
    assert applied(f) == [{"tool": "rollback_release", "args": {"name": "shop", "namespace": NS, "revision": 1}}]
    assert f["fix"]["do"].startswith("Roll back Helm release shop to revision 1, which served")
    assert f["fix"]["kubectl"] == f"helm rollback shop 1 -n {NS}" and "helm" not in f["fix"], "the release's rollback, said once"
    assert "returns release shop to revision 1" in f["fix"]["note"] and "owner's next helm upgrade keeps it" in f["fix"]["note"]


def test_without_a_revision_that_served_the_values_key_holding_the_live_tag_is_changed():
    f = by_mode(run(broken_image_release(previous_served=False)), "image_pull.tag_not_found")
    assert applied(f) == [{"tool": "deploy_chart", "args": {"release": "shop", "namespace": NS, "values": {"image": {"tag": "1.27.3"}}}}]
    assert f["fix"]["helm"] == f"helm upgrade shop shop -n {NS} --reuse-values --set image.tag=1.27.3"
    assert f["fix"]["values"] == "image:\n  tag: 1.27.3"
    assert "changing only image.tag=1.27.3" in f["fix"]["note"] and "Upgrade Helm release shop with image.tag=1.27.3" in f["fix"]["do"]


def test_a_whole_image_value_is_changed_whole():
    data = broken_image_release(previous_served=False, config={"web": {"image": "nginx:1.27-typo"}, "sidecar": {"image": "busybox:1.36"}})
    f = by_mode(run(data), "image_pull.tag_not_found")
    assert applied(f)[0]["args"]["values"] == {"web": {"image": "nginx:1.27.3"}}


def test_no_values_key_holds_the_live_value_so_the_live_patch_stays_and_says_why():
    data = broken_image_release(previous_served=False, config={"replicas": 1})
    f = by_mode(run(data), "image_pull.tag_not_found")
    assert [s["tool"] for s in applied(f)] == ["patch_resource"]
    note = f["fix"]["note"]
    assert "no values key of the release holds the live spec.template.spec.containers.0.image" in note, note
    assert "next helm upgrade of release shop reverts it" in note and "field-manager conflict" in note


def test_without_a_stored_record_the_live_steps_stay_and_say_so():
    data = broken_image_release()
    del data["releases"]
    f = by_mode(run(data), "image_pull.tag_not_found")
    assert [s["tool"] for s in applied(f)] == ["rollout_undo", "patch_resource"]
    assert "no record of release shop could be read" in f["fix"]["note"]


def test_a_probe_path_is_changed_in_the_key_that_holds_it_under_the_workloads_section():
    data, _ = probe_data({"path": "/healthz", "port": 8080}, {"path": "/ready", "port": 8080}, http={8080: "/livez"}, restarts=0)
    helm(data["deployments"][0])
    probes = {"readinessProbe": {"httpGet": {"path": "/ready"}}, "livenessProbe": {"httpGet": {"path": "/ready"}}}
    live = data["deployments"][0]["spec"]["template"]["spec"]["containers"]
    data["releases"] = stored(("deployed", {"web": probes, "worker": {"readinessProbe": {"httpGet": {"path": "/ready"}}}}, [rendered("web", live)]))
    f = by_mode(run(data, "deployment", "web"), "readiness.failing")
    assert applied(f) == [
        {"tool": "deploy_chart", "args": {"release": "shop", "namespace": NS, "values": {"web": {"readinessProbe": {"httpGet": {"path": "/livez"}}}}}}
    ]


def test_an_env_value_inside_a_values_list_sets_the_whole_list():
    from ops_mcp.diagnosis import releases
    from ops_mcp.diagnosis.snapshot import Snapshot

    dep = helm(deployment("api", containers=[container(env=[{"name": "A", "value": "1"}, {"name": "DB_HOST", "value": "db-old.shop.svc"}])]))
    snap = Snapshot.from_dict({"namespace": NS, "deployments": [dep]})
    snap.releases = stored(("deployed", {"api": {"extraEnv": [{"name": "A", "value": "1"}, {"name": "DB_HOST", "value": "db-old.shop.svc"}]}}, []))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "DB_HOST", "value": "db.shop.svc"}]}]}}}}
    step = {"tool": "patch_resource", "args": {"kind": "deployment", "name": "api", "namespace": NS, "patch": patch, "wait": True}}
    done = releases.repair(snap, "shop", [step], None)
    assert done.apply == [
        {
            "tool": "deploy_chart",
            "args": {
                "release": "shop",
                "namespace": NS,
                "values": {"api": {"extraEnv": [{"name": "A", "value": "1"}, {"name": "DB_HOST", "value": "db.shop.svc"}]}},
            },
        }
    ]
    assert "--set 'api.extraEnv[1].value=db.shop.svc'" in done.helm


def test_a_release_target_is_found_from_its_records_whatever_its_status():
    data = {"namespace": NS, "releases": stored(("deployed", {}, []), ("pending-upgrade", {}, []), release="stuck")}
    data["releases"] |= stored(("failed", {}, []), release="broken", kind="configmaps")
    out = run(data, "helm", "stuck")
    assert out["target"]["release"] == "revision 2, pending-upgrade, chart shop-1.2.3 (Secret)"
    f = by_mode(out, "helm.pending")
    assert f["sev"] == "high" and "another operation is in progress" in f["cause"]["text"]
    assert applied(f) == [{"tool": "rollback_release", "args": {"name": "stuck", "namespace": NS, "revision": 1}}]
    failed = by_mode(run(data, "helm", "broken"), "helm.failed")
    assert "(revision 1, failed)" in failed["cause"]["text"] and "apply" not in (failed.get("fix") or {})
    with pytest.raises(TargetNotFound) as exc:
        diagnose_snapshot(data, "helm", "nope")
    assert "broken (revision 1, failed, chart shop-1.2.3 (ConfigMap))" in str(exc.value)
    assert "stuck (revision 2, pending-upgrade" in str(exc.value)
    namespace = run(data)
    assert {f["mode"] for f in namespace["findings"]} == {"helm.pending", "helm.failed"}


def test_a_release_target_includes_the_objects_its_record_renders_unlabelled():
    dep = deployment("migrate", ready=0)  # made by a hook, or labelled by no one: no Helm label or annotation
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": 'pods "migrate-1" is forbidden: exceeded quota'}
    data = {
        "namespace": NS,
        "deployments": [dep],
        "replicasets": [replicaset("migrate-1", "migrate", conditions=[failure])],
        "releases": stored(("deployed", {}, [rendered("migrate", [container()])])),
    }
    out = run(data, "helm", "shop")
    assert out["target"]["release"] == "revision 1, deployed, chart shop-1.2.3 (Secret)"
    assert by_mode(out, "replicas.failed_create")["objs"] == ["Deployment/migrate"]
