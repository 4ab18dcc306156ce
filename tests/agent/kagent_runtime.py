"""Serve one Agent with kagent's own runtime (PyPI kagent-adk), from a folder holding the config.json and
agent-card.json that the kagent controller renders for an Agent's pod.

In a cluster the pod runs `kagent-adk static --filepath /config`, whose sessions and tasks live in the
kagent controller's database (its HTTP API at KAGENT_URL). No controller runs here, so this is that
command with the runtime's own local mode (`KAgentApp.build(local=True)`: sessions and tasks in memory);
the agent, its model client, its MCP toolset, the tool filter and the approval callback are kagent's code.

Runs in the kagent-adk virtualenv (scripts/setup.sh; tests/clients/kagent-requirements.txt), not in .venv:
    python tests/agent/kagent_runtime.py CONFIG_DIR PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from a2a.types import AgentCard
from kagent.adk import KAgentApp
from kagent.adk.types import AgentConfig


def main(folder: Path, port: int) -> None:
    config = AgentConfig.model_validate_json((folder / "config.json").read_text())
    card = AgentCard.model_validate_json((folder / "agent-card.json").read_text())
    name = card.name.replace("-", "_")  # what `static` passes (KAgentConfig.name)
    app = KAgentApp(lambda: config.to_agent(name), card, "http://127.0.0.1:9", name, stream=bool(config.stream), agent_config=config)
    uvicorn.run(app.build(local=True), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
