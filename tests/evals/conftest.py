"""Print the scenario evals' table (pass/fail, tool calls, tokens) at the end of the test run."""

from __future__ import annotations

import io

from evals.scenarios import EvalResult, report

RESULTS: list[EvalResult] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if RESULTS:
        out = io.StringIO()
        report(RESULTS, out)
        terminalreporter.section("scenario evals (scripted model)")
        terminalreporter.write(out.getvalue())
