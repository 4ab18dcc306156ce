"""Fixtures for the tests on real containers: the chart deployed on the real-node cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cluster.harness import Cluster
from realnode_helpers import DeployedApp, deploy_app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The first test also pays for the real-node cluster, the image load and an install (and, with
    # TODO_CHATBOT_NODE_WAIT, for waiting its turn on the machine's one real node).
    wait = float(os.environ.get("TODO_CHATBOT_NODE_WAIT", "0"))
    for item in items:
        if "realnode" in item.keywords and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(1200 + wait))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def app(real_cluster: Cluster, app_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedApp]:
    """The Todo Chatbot installed once (namespace `app`) for the tests that only read it or leave it as they
    found it; tests that upgrade, scale or break a release deploy their own with deploy_app()."""
    deployed = deploy_app(real_cluster, "app", app_images, tmp_path_factory.mktemp("app"))
    try:
        yield deployed
    finally:
        deployed.close()
