"""Redaction of log lines: the shipped hand-written patterns (ops_mcp.redact) against detect-secrets'
plugins, on the labelled corpus tests/ops/redaction_corpus.py.

    .venv/bin/pip install detect-secrets==1.5.0   # only for this comparison
    .venv/bin/python bench/redaction.py

Per redactor: secrets masked (of all seeded), leaky lines (a seeded secret survives), false positives
(a clean line changed) and microseconds per line. Prints JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "ops")]

from redaction_corpus import CLEAN, LEAKS  # noqa: E402

from ops_mcp.redact import MASK, redact_text  # noqa: E402


def detect_secrets_redactor(filters: bool = True):
    from detect_secrets.core.scan import _process_line_based_plugins, scan_line
    from detect_secrets.settings import default_settings

    def redact(line: str) -> str:
        with default_settings():  # every plugin; with filters: the false-positive filters of a file scan
            found = _process_line_based_plugins([(1, line)], "app.log") if filters else scan_line(line)
            found = {s.secret_value for s in found if s.secret_value}
        for value in sorted(found, key=len, reverse=True):
            line = line.replace(value, MASK)
        return line

    return redact


def score(redact) -> dict:
    masked = total = leaky = 0
    missed = []
    for line, secrets in LEAKS:
        out = redact(line)
        total += len(secrets)
        left = [s for s in secrets if s in out]
        masked += len(secrets) - len(left)
        if left:
            leaky += 1
            missed.append(line[:90])
    false_pos = [line[:90] for line in CLEAN if redact(line) != line]
    lines = [line for line, _ in LEAKS] + CLEAN
    start = time.perf_counter()
    for _ in range(5):
        for line in lines:
            redact(line + " ")  # defeat the short-string cache: measure the work
    us = (time.perf_counter() - start) / (5 * len(lines)) * 1e6
    return {
        "secrets_masked": f"{masked}/{total}",
        "leaky_lines": f"{leaky}/{len(LEAKS)}",
        "false_positive_lines": f"{len(false_pos)}/{len(CLEAN)}",
        "us_per_line": round(us, 1),
        "missed": missed,
        "false_positives": false_pos,
    }


def main() -> None:
    results = {"ops_mcp.redact": score(redact_text)}
    try:
        ds = detect_secrets_redactor()
    except ImportError:
        results["detect-secrets"] = "not installed (pip install detect-secrets==1.5.0)"
    else:
        results["detect-secrets"] = score(ds)
        results["detect-secrets (ad hoc: no filters)"] = score(detect_secrets_redactor(filters=False))
        results["both"] = score(lambda line: ds(redact_text(line)))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
