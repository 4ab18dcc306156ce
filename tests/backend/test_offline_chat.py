"""The offline chat mode (no ANTHROPIC_API_KEY): five task intents in plain English."""

import pytest

from .conftest import Database

LABEL = "[Offline mode"


def say(backend, issuer, message, user="alice"):
    response = backend.client.post(f"/api/{user}/chat", json={"message": message}, headers=issuer.headers(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response"].startswith(LABEL), body["response"]
    return body


def titles(backend, issuer, user="alice", **params):
    tasks = backend.client.get(f"/api/{user}/tasks", params=params, headers=issuer.headers(user)).json()
    return [(t["title"], t["completed"]) for t in tasks]


def test_add_list_complete_rename_delete(backend, issuer):
    added = say(backend, issuer, "add buy milk")
    assert "Added task #1: buy milk." in added["response"]
    assert added["tool_calls"][0]["tool"] == "add_task"
    say(backend, issuer, "Add a task to call mom.")
    say(backend, issuer, "remember to book the team meeting")
    assert titles(backend, issuer) == [("buy milk", False), ("call mom", False), ("book the team meeting", False)]

    listed = say(backend, issuer, "show my tasks")
    assert "Your tasks (3)" in listed["response"] and "#2 call mom (pending)" in listed["response"]

    assert "Marked task #1 as done: buy milk" in say(backend, issuer, "mark buy milk done")["response"]
    assert "Marked task #2 as done" in say(backend, issuer, "complete task 2")["response"]
    pending = say(backend, issuer, "what are my pending tasks?")["response"]
    assert "Your pending tasks (1)" in pending and "book the team meeting" in pending
    assert "Your completed tasks (2)" in say(backend, issuer, "list completed tasks")["response"]

    renamed = say(backend, issuer, "rename task 2 to call mom and dad")
    assert "Renamed task #2 to: call mom and dad" in renamed["response"]

    deleted = say(backend, issuer, "delete the meeting task")
    assert [c["tool"] for c in deleted["tool_calls"]] == ["list_tasks", "delete_task"]
    assert "Deleted task #3: book the team meeting" in deleted["response"]
    assert titles(backend, issuer) == [("buy milk", True), ("call mom and dad", True)]


def test_not_found_ambiguous_and_unknown(backend, issuer):
    say(backend, issuer, "add write report")
    say(backend, issuer, "add read report")
    ambiguous = say(backend, issuer, "delete the report task")["response"]
    assert "Several tasks match" in ambiguous and "#1 write report" in ambiguous and "#2 read report" in ambiguous
    assert 'could not find a task matching "dentist"' in say(backend, issuer, "complete dentist")["response"]
    missing = say(backend, issuer, "complete task 99")
    assert "could not complete task 99" in missing["response"] and "Task 99 not found" in missing["response"]
    assert missing["tool_calls"][0]["is_error"] is True
    assert "did not understand" in say(backend, issuer, "what's the weather like?")["response"]
    assert titles(backend, issuer) == [("write report", False), ("read report", False)]


def test_empty_list_and_isolation(backend, issuer):
    assert "You have no tasks yet." in say(backend, issuer, "show my tasks")["response"]
    say(backend, issuer, "add alice only")
    assert "You have no tasks yet." in say(backend, issuer, "list my todos", user="bob")["response"]
    assert "could not complete task 1" in say(backend, issuer, "complete task 1", user="bob")["response"]
    assert titles(backend, issuer) == [("alice only", False)]


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("add buy milk", "buy milk"),
        ("Add Buy Milk!", "Buy Milk"),
        ("add task: pay rent", "pay rent"),
        ("create a new task called water plants", "water plants"),
        ('please add "taxes"', "taxes"),
        ("remind me to stretch", "stretch"),
    ],
)
def test_add_phrasings(start_backend, tmp_path, issuer, message, title):
    # Phrasing does not depend on the database: SQLite only.
    backend = start_backend(Database("sqlite", {"SQLITE_PATH": str(tmp_path / "todo.db")}), **issuer.settings)
    say(backend, issuer, message)
    assert titles(backend, issuer) == [(title, False)]
