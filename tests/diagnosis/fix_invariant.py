"""The one-builder invariant of a fix, checked on every report a diagnosis test makes (test_analyzers.run and the
scenario helpers call check_report; COUNTS says on how many)."""

from __future__ import annotations

import json
from typing import Any

from ops_mcp.diagnosis.fixes import PLACEHOLDER, kubectl_of


def check_fix(fix: dict[str, Any]) -> None:
    """A fix's command line is its calls' (never a command without its apply), and no call has a placeholder."""
    apply = fix.get("apply") or []
    if fix.get("kubectl"):
        assert apply, f"a command without its apply: {fix}"
        assert fix["kubectl"] == kubectl_of(apply), f"kubectl is not built from apply: {fix}"
    for call in apply:
        assert not PLACEHOLDER.search(json.dumps(call["args"])), f"a placeholder in an applied call: {call}"


COUNTS = {"reports": 0, "fixes": 0, "commands": 0}  # what check_report has checked in this test process


def check_report(out: dict[str, Any]) -> int:
    """Check every fix of a report (its wire form); returns how many it holds."""
    fixes = [f["fix"] for f in out.get("findings", []) if f.get("fix")]
    for fix in fixes:
        check_fix(fix)
    COUNTS["reports"] += 1
    COUNTS["fixes"] += len(fixes)
    COUNTS["commands"] += sum(1 for fix in fixes if fix.get("kubectl"))
    return len(fixes)
