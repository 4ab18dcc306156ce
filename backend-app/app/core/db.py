"""Engine and sessions. One engine per app instance (see app.main.create_app)."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, event, text
from sqlmodel import Session, create_engine

from app.core.config import BACKEND_DIR, Settings


def make_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.sqlalchemy_url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            # WAL lets readers run while a writer commits; foreign keys are off by default in SQLite.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(settings.sqlalchemy_url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def schema_revisions(engine: Engine) -> set[str]:
    """The Alembic revisions the database is at (empty: never migrated). Raises when it is unreachable."""
    from sqlalchemy import inspect

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        return {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}


@lru_cache(maxsize=1)
def schema_heads() -> frozenset[str]:
    """The newest revisions of the migrations this code ships (what "migrated" means)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def alembic_config(database_url: str):
    from alembic.config import Config  # imported on demand: only start-up migrations need it

    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(BACKEND_DIR / "alembic"))
    # '%' is interpolation syntax in the ini parser.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False  # keep the app's JSON logging
    return config


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest Alembic revision (the migrations are the source of truth)."""
    from alembic import command

    if not settings.is_sqlite:
        command.upgrade(alembic_config(settings.sqlalchemy_url), "head")
        return
    # The backend and the task MCP server may start together on one SQLite file: one migrates at a time.
    import fcntl

    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{settings.sqlite_path}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(alembic_config(settings.sqlalchemy_url), "head")
