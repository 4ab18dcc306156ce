"""Every report a diagnosis test makes (snapshot scenarios, the cluster ones run in-process too) keeps the fix
invariant: kubectl == kubectl_of(apply), never a command without its apply, no placeholder in an applied call."""

from __future__ import annotations

import pytest

from .fix_invariant import check_report

SEEN = {"reports": 0, "fixes": 0}


@pytest.fixture(autouse=True)
def _fix_invariant(monkeypatch):
    from ops_mcp.diagnosis import engine

    real = engine.diagnose

    def checked(*args, **kwargs):
        report = real(*args, **kwargs)
        SEEN["reports"] += 1
        SEEN["fixes"] += check_report(report.dump())
        return report

    monkeypatch.setattr(engine, "diagnose", checked)
    yield
