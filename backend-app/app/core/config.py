"""Settings from the environment (and an optional backend-app/.env file)."""

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BACKEND_DIR = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = BACKEND_DIR / "todo.db"
DEFAULT_MODEL = "claude-sonnet-5-5"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=BACKEND_DIR / ".env", extra="ignore")

    # Database: PostgreSQL (e.g. Neon) by URL, else an embedded SQLite file.
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    sqlite_path: Path = Field(default=DEFAULT_SQLITE_PATH, alias="SQLITE_PATH")
    # Apply the Alembic migrations at start-up. Default: only for SQLite (out of the box);
    # on PostgreSQL the deployment runs `alembic upgrade head` as its own step.
    migrate_on_start: bool | None = Field(default=None, alias="DB_MIGRATE_ON_START")

    # Better Auth JWT verification.
    better_auth_jwks_url: str | None = Field(default=None, alias="BETTER_AUTH_JWKS_URL")
    better_auth_issuer: str | None = Field(default=None, alias="BETTER_AUTH_ISSUER")
    better_auth_audience: str | None = Field(default=None, alias="BETTER_AUTH_AUDIENCE")
    better_auth_secret: str | None = Field(default=None, alias="BETTER_AUTH_SECRET", repr=False)
    # HS256 tokens signed with BETTER_AUTH_SECRET are accepted only in this explicit mode, and never
    # together with a JWKS URL (production verifies asymmetric signatures only).
    auth_development_mode: bool = Field(default=False, alias="AUTH_DEVELOPMENT_MODE")
    jwks_cache_seconds: float = Field(default=300.0, alias="BETTER_AUTH_JWKS_CACHE_SECONDS", ge=0)
    # After the cache expires, keys already fetched keep verifying this long while the JWKS endpoint is down.
    jwks_grace_seconds: float = Field(default=900.0, alias="BETTER_AUTH_JWKS_GRACE_SECONDS", ge=0)
    # Minimum delay between two JWKS refetches triggered by an unknown `kid` (rotation).
    jwks_refetch_cooldown: float = Field(default=5.0, alias="BETTER_AUTH_JWKS_REFETCH_COOLDOWN", ge=0)

    # Chat agent.
    anthropic_api_key: str | None = Field(default=None, alias="ANTHROPIC_API_KEY", repr=False)
    anthropic_base_url: str | None = Field(default=None, alias="ANTHROPIC_BASE_URL")
    anthropic_model: str = Field(default=DEFAULT_MODEL, alias="ANTHROPIC_MODEL")
    agent_max_turns: int = Field(default=8, alias="AGENT_MAX_TURNS", ge=1, le=50)
    agent_max_tokens: int = Field(default=1024, alias="AGENT_MAX_TOKENS", ge=64, le=16384)
    agent_history_messages: int = Field(default=20, alias="AGENT_HISTORY_MESSAGES", ge=0, le=200)
    task_mcp_url: str | None = Field(default=None, alias="TASK_MCP_URL")

    # Chat ops: the ops MCP server's tools for admins (unset URL = off).
    ops_mcp_url: str | None = Field(default=None, alias="OPS_MCP_URL")
    ops_mcp_token: str | None = Field(default=None, alias="OPS_MCP_TOKEN", repr=False)
    ops_chat_allow_writes: bool = Field(default=False, alias="OPS_CHAT_ALLOW_WRITES")
    # Each write the chat proposes waits this long for the admin's Approve / Deny, then expires unrun.
    ops_chat_approval_ttl_seconds: float = Field(default=900.0, alias="OPS_CHAT_APPROVAL_TTL_SECONDS", gt=0, le=86400)
    # Call the ops server with the signed-in admin's own token (the server verifies it against the same issuer:
    # OPS_MCP_OIDC_*), so its audit names the person; off: the backend's OPS_MCP_TOKEN.
    ops_mcp_forward_user_token: bool = Field(default=False, alias="OPS_MCP_FORWARD_USER_TOKEN")
    admin_user_ids: Annotated[frozenset[str], NoDecode] = Field(default_factory=frozenset, alias="ADMIN_USER_IDS")

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["http://localhost:3000"], alias="CORS_ORIGINS")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # CORS_ORIGINS="http://a,http://b" as well as a JSON list.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_user_ids(cls, value: object) -> object:
        # ADMIN_USER_IDS="u1, u2" (blanks ignored) or a JSON list.
        if value is None:
            return frozenset()
        if isinstance(value, str):
            items = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
            if not isinstance(items, list):
                raise ValueError("ADMIN_USER_IDS must be a comma-separated list of user ids or a JSON list")
            value = items
        if isinstance(value, (list, tuple, set, frozenset)):
            return frozenset(str(item).strip() for item in value if str(item).strip())
        return value

    @field_validator(
        "database_url",
        "better_auth_jwks_url",
        "better_auth_issuer",
        "better_auth_audience",
        "better_auth_secret",
        "anthropic_api_key",
        "anthropic_base_url",
        "task_mcp_url",
        "ops_mcp_url",
        "ops_mcp_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy should use."""
        if not self.database_url:
            return f"sqlite:///{self.sqlite_path}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def should_migrate_on_start(self) -> bool:
        return self.is_sqlite if self.migrate_on_start is None else self.migrate_on_start

    @property
    def expected_issuer(self) -> str | None:
        """Better Auth's default `iss` is its base URL: the JWKS URL's origin when not set."""
        return self.better_auth_issuer or _origin(self.better_auth_jwks_url)

    @property
    def expected_audience(self) -> str | None:
        return self.better_auth_audience or _origin(self.better_auth_jwks_url)


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
