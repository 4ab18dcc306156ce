"""The scenario evals with the scripted model (CI). bench/evals.py runs the same ones against a real model."""

from __future__ import annotations

import pytest

from evals.conftest import RESULTS
from evals.scenarios import SCENARIOS, Scenario, run

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_scenario(cluster, namespace, tmp_path, scenario: Scenario):
    result = await run(cluster, namespace, scenario, tmp_path, scripted=True)
    RESULTS.append(result)
    assert result.passed, f"{result.reason}\nanswer: {result.answer}"
    assert result.tool_calls == sum(1 for turn in scenario.plan if not callable(turn))
