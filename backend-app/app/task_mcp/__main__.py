"""python -m app.task_mcp --transport stdio|http [--host 127.0.0.1] [--port 8001] [--user-id ID]"""

import argparse
import os
import sys

from app.core.config import Settings
from app.core.db import make_engine, migrate
from app.core.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.task_mcp", description="The Todo task MCP server.")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="HTTP port (default 8001)")
    parser.add_argument(
        "--user-id",
        default=os.environ.get("TASK_MCP_USER_ID"),
        help="stdio only: act as this user (default $TASK_MCP_USER_ID, else the tools' user_id argument)",
    )
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level)  # JSON on stderr; stdout belongs to the stdio transport
    engine = make_engine(settings)
    if settings.should_migrate_on_start:
        migrate(settings)

    if args.transport == "stdio":
        from app.task_mcp.server import build_task_mcp

        build_task_mcp(engine, stdio_user=args.user_id, trust_user_argument=True).run("stdio")
        return 0

    if args.user_id:
        parser.error("--user-id is for stdio; over HTTP the user comes from the bearer token")
    import uvicorn

    from app.task_mcp.http import create_http_app

    app = create_http_app(settings, engine, host=args.host)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
