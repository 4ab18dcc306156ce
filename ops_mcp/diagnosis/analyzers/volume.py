"""A Pending claim that names its PersistentVolume (spec.volumeName) the volume will not take: its claimRef is
another claim's. Released (that claim was deleted, the reclaim policy kept the volume and its data): the claimRef
still holds the old claim's uid, so the PV controller never binds it to the new one. Bound or reserved for
another live claim: it is taken.

Read by the pvc check (the builder GETs each volume a Pending claim in scope names; snapshot.persistentvolumes).
The repair of a released volume is a write of a cluster-scoped object: ops-mcp's change tools write only namespaced
objects inside the namespace allowlist, and handing a deleted claim's data to a new claim is its owner's decision,
so the fix is the exact command for a cluster admin (`note`), not calls for an agent."""

from __future__ import annotations

import json
import shlex

from .. import fixes
from ..base import Context, Issue
from ..snapshot import Obj, meta, name_of


def claim_issue(ctx: Context, pvc: Obj) -> Issue | None:
    """The finding for a Pending claim whose named volume belongs to another claim; None when it does not apply or
    the volume was not read."""
    volume = (pvc.get("spec") or {}).get("volumeName")
    pv = ctx.snap.persistentvolumes.get(volume or "")
    if pv is None:
        return None
    name, uid = name_of(pvc), meta(pvc).get("uid")
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if not ref or (ref.get("namespace") == ctx.ns and ref.get("name") == name and (not ref.get("uid") or not uid or ref.get("uid") == uid)):
        return None  # free, or already this claim's: binding is on its way
    phase = (pv.get("status") or {}).get("phase")
    owner = f"{ref.get('namespace')}/{ref.get('name')}"
    subject = f"PersistentVolumeClaim/{name}"
    ev = [
        {"p": "status.phase", "v": "Pending"},
        {"p": "spec.volumeName", "v": volume},
        {"p": f"PersistentVolume/{volume}.status.phase", "v": phase},
        {"p": f"PersistentVolume/{volume}.spec.claimRef", "v": {k: ref.get(k) for k in ("namespace", "name", "uid") if ref.get(k)}},
        {"p": "metadata.uid", "v": uid},
    ]
    failed = ctx.events("PersistentVolumeClaim", pvc, reasons=("FailedBinding",))
    ev += [ctx.event_ev(e) for e in failed[:1]]
    same = ref.get("namespace") == ctx.ns and ref.get("name") == name
    if phase != "Released":
        return Issue(
            mode="pvc.volume_taken",
            obj=subject,
            ev=ev,
            sev="critical",
            subjects={subject},
            cause={"text": f"PersistentVolume {volume} is {phase or 'reserved'} for claim {owner}, not this one", "conf": "high", "basis": [1, 2, 3]},
            fix=fixes.make(
                ctx.snap,
                subject,
                f"Name a free volume in spec.volumeName (or none, to provision one): {volume} belongs to {owner}",
                None,
                verify=False,
                mutates=False,
            ),
        )
    policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
    patch = {"spec": {"claimRef": {"namespace": ctx.ns, "name": name, "uid": None, "resourceVersion": None}}}
    command = f"kubectl patch pv {shlex.quote(volume)} --type=merge -p {shlex.quote(json.dumps(patch, separators=(',', ':')))}"
    earlier = f"an earlier claim of the same name (uid {ref.get('uid')}), deleted" if same else f"claim {owner}, deleted"
    return Issue(
        mode="pvc.volume_released",
        obj=subject,
        ev=ev,
        sev="critical",
        subjects={subject},
        cause={
            "text": f"PersistentVolume {volume} is Released: its claimRef still names {earlier}, so it will not bind to this claim "
            f"(reclaim policy {policy} kept it and its data)",
            "conf": "high",
            "basis": [2, 3, 4],
        },
        fix=fixes.make(
            ctx.snap,
            subject,
            f"Hand PersistentVolume {volume} to claim {name}: set its claimRef to this claim without the old uid and resourceVersion; "
            "the PV controller then binds them (a cluster admin's write: PersistentVolumes are cluster-scoped)",
            None,
            verify=False,
            risk="medium",
            note=f"For a cluster admin (ops-mcp writes only namespaced objects): `{command}`. The volume still holds the deleted claim's data: "
            f"bind it only if that data is meant for {name}.",
        ),
    )
