"""`alembic upgrade head` from backend-app/ on an empty database (what the Helm hook Job runs)."""

import subprocess

import sqlalchemy as sa

from .conftest import BACKEND_DIR, PYTHON, subprocess_env


def alembic(db, *args):
    result = subprocess.run([PYTHON, "-m", "alembic", *args], cwd=BACKEND_DIR, env=subprocess_env(db), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def inspect(db):
    url = db.url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names())
        indexes = {table: {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)} for table in tables if table != "alembic_version"}
        with engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() if "alembic_version" in tables else None
        return tables, indexes, version
    finally:
        engine.dispose()


def test_upgrade_from_empty_downgrade_and_again(db):
    assert inspect(db)[0] == set()
    alembic(db, "upgrade", "head")
    tables, indexes, version = inspect(db)
    assert tables == {"alembic_version", "tasks", "conversations", "messages", "ops_actions"}
    assert version == "0002"
    assert {("user_id",), ("completed",)} <= indexes["tasks"]
    assert {("conversation_id",), ("user_id",)} <= indexes["messages"]
    assert {("conversation_id",), ("user_id",)} <= indexes["ops_actions"]
    # The models and the migrations agree (no pending autogenerate diff).
    check = alembic(db, "check")
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    alembic(db, "downgrade", "base")
    assert inspect(db)[0] == {"alembic_version"}
    alembic(db, "upgrade", "head")
    assert inspect(db)[2] == "0002"


def test_app_serves_a_migrated_database(db, start_backend, issuer):
    alembic(db, "upgrade", "head")
    server = start_backend(db, DB_MIGRATE_ON_START=False, **issuer.settings)
    created = server.client.post("/api/alice/tasks", json={"title": "after migration"}, headers=issuer.headers("alice"))
    assert created.status_code == 201
    assert server.client.get("/ready").status_code == 200


def test_concurrent_start_up_migrations_on_one_sqlite_file(tmp_path):
    """The backend and the task MCP server may start together on the same SQLite file."""
    from .conftest import Database

    db = Database("sqlite", {"SQLITE_PATH": str(tmp_path / "shared.db")})
    code = "from app.core.config import Settings; from app.core.db import migrate; migrate(Settings())"
    processes = [subprocess.Popen([PYTHON, "-c", code], cwd=BACKEND_DIR, env=subprocess_env(db), stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    assert inspect(db)[2] == "0002"
