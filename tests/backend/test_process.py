"""`uvicorn app.main:app` as a real process from backend-app/: JSON logs with request ids, no secrets."""

import json
import subprocess
import time

import httpx
import jwt

from .conftest import BACKEND_DIR, PYTHON, free_port, subprocess_env

SECRET = "process-test-secret-0123456789abcdef"


def test_uvicorn_process_logs_json_without_tokens(db):
    port = free_port()
    env = subprocess_env(
        db,
        BETTER_AUTH_SECRET=SECRET,
        AUTH_DEVELOPMENT_MODE="true",
        DB_MIGRATE_ON_START="true",
        LOG_LEVEL="DEBUG",
        CORS_ORIGINS="http://app.test, http://localhost:3000",
    )
    process = subprocess.Popen(
        [PYTHON, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=BACKEND_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "backend did not start"
            time.sleep(0.2)
        preflight = httpx.options(f"{base}/api/alice/tasks", headers={"Origin": "http://app.test", "Access-Control-Request-Method": "GET"})
        assert preflight.headers["access-control-allow-origin"] == "http://app.test"
        auth = {"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"}
        assert httpx.post(f"{base}/api/alice/tasks", json={"title": "logged"}, headers=auth).status_code == 201
        chat = httpx.post(f"{base}/api/alice/chat", json={"message": "add buy milk"}, headers=auth, timeout=30)
        assert chat.status_code == 200 and chat.json()["tool_calls"][0]["tool"] == "add_task"
        assert httpx.get(f"{base}/api/alice/tasks?token={token}", headers={"Authorization": "Bearer wrong"}).status_code == 401
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    requests = [line for line in lines if line["message"] == "request"]
    assert any(r["method"] == "POST" and r["path"] == "/api/alice/tasks" and r["status"] == 201 and r["request_id"] == "req-42" for r in requests)
    assert any(r["path"] == "/api/alice/chat" and r["request_id"] == "req-42" for r in requests)
    assert any(line["message"] == "backend ready" and line["chat"] == "offline" for line in lines)
    assert token not in stderr and token.split(".")[2] not in stderr and SECRET not in stderr
