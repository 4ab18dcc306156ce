"""Fixtures for the packaging tests (helpers live in k8s_chart.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def uninstall():
    """Call uninstall(cluster, namespace) before a helm install: the release (and its cluster-scoped
    ClusterRole/Binding, which outlive the namespace) is removed after the test."""
    done: list[tuple] = []

    def register(cluster, namespace: str, release: str = "todo-chatbot") -> None:
        done.append((cluster, namespace, release))

    yield register
    for cluster, namespace, release in done:
        cluster.helm("uninstall", release, "-n", namespace, "--wait=false", "--ignore-not-found", check=False)
