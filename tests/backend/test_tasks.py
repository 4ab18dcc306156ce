"""The Todo REST API over HTTP, on SQLite and PostgreSQL."""

import pytest


def test_crud_cycle(backend, issuer):
    api, auth = backend.client, issuer.headers("alice")

    created = api.post("/api/alice/tasks", json={"title": "  Buy milk ", "description": "2 litres"}, headers=auth)
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["title"] == "Buy milk" and task["description"] == "2 litres"
    assert task["completed"] is False and task["user_id"] == "alice"
    assert task["created_at"].endswith("Z") or task["created_at"].endswith("+00:00")
    task_id = task["id"]

    assert api.get(f"/api/alice/tasks/{task_id}", headers=auth).json() == task
    assert [t["id"] for t in api.get("/api/alice/tasks", headers=auth).json()] == [task_id]

    updated = api.put(f"/api/alice/tasks/{task_id}", json={"title": "Buy oat milk"}, headers=auth)
    assert updated.status_code == 200, updated.text
    assert updated.json()["title"] == "Buy oat milk" and updated.json()["description"] == "2 litres"
    assert updated.json()["updated_at"] >= task["updated_at"]

    cleared = api.put(f"/api/alice/tasks/{task_id}", json={"description": None}, headers=auth)
    assert cleared.status_code == 200 and cleared.json()["description"] is None
    assert cleared.json()["title"] == "Buy oat milk"
    null_title = api.put(f"/api/alice/tasks/{task_id}", json={"title": None}, headers=auth)
    assert null_title.status_code == 422 and null_title.json()["detail"][0]["loc"] == ["body", "title"]

    toggled = api.patch(f"/api/alice/tasks/{task_id}/complete", headers=auth)
    assert toggled.status_code == 200 and toggled.json()["completed"] is True
    assert api.patch(f"/api/alice/tasks/{task_id}/complete", headers=auth).json()["completed"] is False
    explicit = api.patch(f"/api/alice/tasks/{task_id}/complete", params={"completed": "true"}, headers=auth)
    assert explicit.json()["completed"] is True
    assert api.patch(f"/api/alice/tasks/{task_id}/complete", params={"completed": "true"}, headers=auth).json()["completed"] is True

    assert api.delete(f"/api/alice/tasks/{task_id}", headers=auth).status_code == 204
    missing = api.get(f"/api/alice/tasks/{task_id}", headers=auth)
    assert missing.status_code == 404 and str(task_id) in missing.json()["detail"]
    assert api.delete(f"/api/alice/tasks/{task_id}", headers=auth).status_code == 404
    assert api.put(f"/api/alice/tasks/{task_id}", json={"title": "x"}, headers=auth).status_code == 404
    assert api.patch(f"/api/alice/tasks/{task_id}/complete", headers=auth).status_code == 404


def test_filter_and_sort(backend, issuer):
    api, auth = backend.client, issuer.headers("alice")
    ids = {title: api.post("/api/alice/tasks", json={"title": title}, headers=auth).json()["id"] for title in ["banana", "apple", "cherry"]}
    api.patch(f"/api/alice/tasks/{ids['apple']}/complete", headers=auth)

    def titles(**params):
        response = api.get("/api/alice/tasks", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [t["title"] for t in response.json()]

    assert titles() == ["banana", "apple", "cherry"]
    assert titles(status="pending") == ["banana", "cherry"]
    assert titles(status="completed") == ["apple"]
    assert titles(sort="title") == ["apple", "banana", "cherry"]
    assert titles(sort="-title") == ["cherry", "banana", "apple"]
    assert titles(sort="-id") == ["cherry", "apple", "banana"]
    assert titles(sort="title", limit=2, offset=1) == ["banana", "cherry"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "title", "Field required"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"title": "   "}, "title", "at least 1 character"),
        ({"title": "x" * 201}, "title", "at most 200 characters"),
        ({"title": "ok", "description": "d" * 1001}, "description", "at most 1000 characters"),
        ({"title": 12}, "title", "valid string"),
    ],
)
def test_create_validation_errors(backend, issuer, body, field, words):
    response = backend.client.post("/api/alice/tasks", json=body, headers=issuer.headers("alice"))
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and words in e["msg"] for e in errors), errors


def test_other_validation_errors(backend, issuer):
    api, auth = backend.client, issuer.headers("alice")
    task_id = api.post("/api/alice/tasks", json={"title": "a"}, headers=auth).json()["id"]
    empty = api.put(f"/api/alice/tasks/{task_id}", json={}, headers=auth)
    assert empty.status_code == 422 and "at least one of title" in empty.text
    assert api.put(f"/api/alice/tasks/{task_id}", json={"title": "x" * 201}, headers=auth).status_code == 422
    bad_status = api.get("/api/alice/tasks", params={"status": "later"}, headers=auth)
    assert bad_status.status_code == 422 and bad_status.json()["detail"][0]["loc"] == ["query", "status"]
    assert api.get("/api/alice/tasks", params={"sort": "owner"}, headers=auth).status_code == 422
    assert api.get("/api/alice/tasks/not-a-number", headers=auth).status_code == 422
    assert api.post("/api/alice/tasks", content=b"{not json", headers={**auth, "content-type": "application/json"}).status_code == 422


def test_users_are_isolated(backend, issuer):
    api = backend.client
    alice, bob = issuer.headers("alice"), issuer.headers("bob")
    task_id = api.post("/api/alice/tasks", json={"title": "alice's secret"}, headers=alice).json()["id"]
    api.post("/api/bob/tasks", json={"title": "bob's"}, headers=bob)

    assert [t["title"] for t in api.get("/api/bob/tasks", headers=bob).json()] == ["bob's"]
    assert [t["title"] for t in api.get("/api/alice/tasks", headers=alice).json()] == ["alice's secret"]
    # Bob, on his own path, cannot reach Alice's task by id.
    assert api.get(f"/api/bob/tasks/{task_id}", headers=bob).status_code == 404
    assert api.put(f"/api/bob/tasks/{task_id}", json={"title": "mine"}, headers=bob).status_code == 404
    assert api.patch(f"/api/bob/tasks/{task_id}/complete", headers=bob).status_code == 404
    assert api.delete(f"/api/bob/tasks/{task_id}", headers=bob).status_code == 404
    # Bob's token on Alice's path: forbidden.
    for method, path in [
        ("GET", "/api/alice/tasks"),
        ("POST", "/api/alice/tasks"),
        ("GET", f"/api/alice/tasks/{task_id}"),
        ("DELETE", f"/api/alice/tasks/{task_id}"),
        ("GET", "/api/alice/conversations"),
        ("POST", "/api/alice/chat"),
    ]:
        response = api.request(method, path, headers=bob, json={"title": "x", "message": "hi"})
        assert response.status_code == 403, (method, path, response.text)
    assert api.get(f"/api/alice/tasks/{task_id}", headers=alice).json()["title"] == "alice's secret"


def test_health_ready_and_docs(backend):
    assert backend.client.get("/health").json() == {"status": "ok"}
    ready = backend.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    assert ready.headers["x-request-id"]
    assert backend.client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    paths = backend.client.get("/openapi.json").json()["paths"]
    for path in [
        "/api/{user_id}/tasks",
        "/api/{user_id}/tasks/{task_id}",
        "/api/{user_id}/tasks/{task_id}/complete",
        "/api/{user_id}/chat",
        "/api/{user_id}/conversations",
        "/api/{user_id}/conversations/{conversation_id}",
    ]:
        assert path in paths
    assert backend.client.get("/docs").status_code == 200


def test_ready_reports_unreachable_database(start_backend, tmp_path, issuer):
    from .conftest import Database, free_port

    # A PostgreSQL URL where nothing listens: the process is healthy, the database is not.
    gone = Database("postgres", {"DATABASE_URL": f"postgresql://nobody:x@127.0.0.1:{free_port()}/none"})
    server = start_backend(gone, DB_MIGRATE_ON_START=False, **issuer.settings)
    assert server.client.get("/health").status_code == 200
    ready = server.client.get("/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"


def test_ready_means_the_schema_is_migrated(start_backend, db, issuer):
    """Readiness is "can serve": a reachable database without the tables (migrations not run yet) is 503, and
    so is any failure to read it; after `alembic upgrade head` the same process answers 200."""
    import subprocess

    from .conftest import BACKEND_DIR, PYTHON, subprocess_env

    server = start_backend(db, DB_MIGRATE_ON_START=False, **issuer.settings)
    ready = server.client.get("/ready")
    assert ready.status_code == 503, ready.text
    assert ready.json()["database"] == "ok" and ready.json()["schema"].startswith("at none, expected "), ready.json()
    # The deployment's migration step, as the chart's Job runs it.
    subprocess.run([PYTHON, "-m", "alembic", "upgrade", "head"], cwd=BACKEND_DIR, env=subprocess_env(db), check=True, capture_output=True)
    assert server.client.get("/ready").json() == {"status": "ok", "database": "ok"}


def test_ready_is_503_not_500_on_any_database_error(start_backend, tmp_path, issuer):
    from .conftest import Database

    # A file that is not a database: an error of the database itself, not of connectivity.
    garbage = tmp_path / "todo.db"
    garbage.write_bytes(b"not a database " * 512)
    broken = Database("sqlite", {"SQLITE_PATH": str(garbage)})
    server = start_backend(broken, DB_MIGRATE_ON_START=False, **issuer.settings)
    ready = server.client.get("/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable", ready.text


def test_cors_preflight(backend):
    response = backend.client.options(
        "/api/alice/tasks",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    evil = backend.client.options("/api/alice/tasks", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in evil.headers
