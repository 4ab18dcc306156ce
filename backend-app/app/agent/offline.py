"""Offline chat: no model, a few plain-English patterns for the five task intents.

It uses the same MCP tools as the model-driven agent, so behaviour (and tool_calls) match.
"""

import re
from typing import Any

from app.agent.reply import AgentReply
from app.agent.tools import ToolBox

LABEL = "[Offline mode: no AI model is configured, so I understand simple task commands only.]"
HELP = (
    'Try: "add buy milk", "show my tasks", "show pending tasks", "complete task 3", '
    '"mark buy milk done", "delete the meeting task", "rename task 2 to call mom".'
)

_I = re.IGNORECASE
LIST = re.compile(
    r"^(?:(?:please\s+)?(?:show|list|display|view|see|get|what(?:'s| is| are)?)\b.*\b(?:tasks?|todos?|to-dos?|list)\b.*"
    r"|(?:my\s+)?(?:tasks?|todos?)(?:\s+list)?)$",
    _I,
)
RENAME = re.compile(r"^(?:please\s+)?(?:rename|change|update|edit)\s+(?P<ref>.+?)\s+(?:to|into|as)\s+(?P<title>.+)$", _I)
COMPLETE = re.compile(
    r"^(?:please\s+)?(?:(?:complete|finish|done with|check off|tick off)\s+(?P<ref>.+?)"
    r"|mark\s+(?P<ref2>.+?)\s+(?:as\s+)?(?:done|complete|completed|finished))$",
    _I,
)
DELETE = re.compile(r"^(?:please\s+)?(?:delete|remove|cancel|drop|erase)\s+(?P<ref>.+)$", _I)
ADD = re.compile(
    r"^(?:please\s+)?(?:add|create|new|remember(?:\s+to)?|remind\s+me\s+to|note)\b\s*(?:a\s+|an\s+)?(?:new\s+)?"
    r"(?:(?:task|todo|to-do)\b\s*)?(?:(?:to|called|named|titled)\b\s*|:\s*)?(?P<title>.+)$",
    _I,
)
TASK_ID = re.compile(r"^(?:the\s+)?(?:(?:task|todo|number|no\.?)\s*)?#?(?P<id>\d+)$", _I)


def _clean(text: str) -> str:
    return text.strip().strip(" \t.!?\"'“”‘’").strip()


def _words_ref(ref: str) -> str:
    ref = re.sub(r"^(?:the|my)\s+", "", ref, flags=_I)
    ref = re.sub(r"^(?:task|todo)\s+", "", ref, flags=_I)
    ref = re.sub(r"\s+(?:task|todo|item)$", "", ref, flags=_I)
    return _clean(ref)


def _line(task: dict[str, Any]) -> str:
    return f"#{task['id']} {task['title']} ({'done' if task['completed'] else 'pending'})"


class OfflineAgent:
    def __init__(self, toolbox: ToolBox) -> None:
        self.toolbox = toolbox
        self.tool_calls: list[dict[str, Any]] = []

    async def _call(self, tool: str, **arguments: Any) -> tuple[bool, Any]:
        outcome = await self.toolbox.call(tool, arguments)
        self.tool_calls.append({"tool": tool, "arguments": arguments, "result": outcome.result, "is_error": not outcome.ok})
        return outcome.ok, outcome.result

    async def reply(self, message: str) -> AgentReply:
        text = await self._answer(_clean(message))
        return AgentReply(text=f"{LABEL}\n{text}", tool_calls=self.tool_calls)

    async def _answer(self, message: str) -> str:
        if match := LIST.match(message):
            lowered = message.lower()
            status = (
                "pending"
                if re.search(r"\b(pending|open|incomplete|remaining|unfinished|to do)\b", lowered)
                else "completed"
                if re.search(r"\b(completed|done|finished)\b", lowered)
                else "all"
            )
            return await self._list(status)
        if match := RENAME.match(message):
            return await self._rename(match["ref"], _clean(match["title"]))
        if match := COMPLETE.match(message):
            return await self._complete(match["ref"] or match["ref2"])
        if match := DELETE.match(message):
            return await self._delete(match["ref"])
        if (match := ADD.match(message)) and _clean(match["title"]):
            return await self._add(_clean(match["title"]))
        return f"Sorry, I did not understand that. {HELP}"

    async def _list(self, status: str) -> str:
        ok, tasks = await self._call("list_tasks", status=status)
        if not ok:
            return f"I could not list your tasks: {tasks}"
        if not tasks:
            return {"all": "You have no tasks yet.", "pending": "You have no pending tasks.", "completed": "You have no completed tasks."}[status]
        heading = {"all": "Your tasks", "pending": "Your pending tasks", "completed": "Your completed tasks"}[status]
        return f"{heading} ({len(tasks)}):\n" + "\n".join(f"- {_line(task)}" for task in tasks)

    async def _add(self, title: str) -> str:
        ok, result = await self._call("add_task", title=title)
        if not ok:
            return f'I could not add "{title}": {result}'
        return f"Added task #{result['task_id']}: {result['title']}."

    async def _resolve(self, ref: str, *, prefer_pending: bool = False) -> tuple[int | None, str | None]:
        """A task id from "3", "task #3" or words from its title; else an explanation."""
        ref = _clean(ref)
        if match := TASK_ID.match(ref):
            return int(match["id"]), None
        words = _words_ref(ref)
        if not words:
            return None, f"Which task? {HELP}"
        ok, tasks = await self._call("list_tasks", status="all")
        if not ok:
            return None, f"I could not look up your tasks: {tasks}"
        needle = words.lower()
        matches = [t for t in tasks if t["title"].lower() == needle]
        if not matches:
            matches = [t for t in tasks if needle in t["title"].lower()]
        if not matches:
            terms = needle.split()
            matches = [t for t in tasks if all(term in t["title"].lower() for term in terms)]
        if prefer_pending and len(matches) > 1:
            matches = [t for t in matches if not t["completed"]] or matches
        if not matches:
            return None, f'I could not find a task matching "{words}". Say "show my tasks" to see them.'
        if len(matches) > 1:
            options = "; ".join(_line(t) for t in matches)
            return None, f'Several tasks match "{words}": {options}. Which one? Use its number, e.g. "task {matches[0]["id"]}".'
        return matches[0]["id"], None

    async def _complete(self, ref: str) -> str:
        task_id, problem = await self._resolve(ref, prefer_pending=True)
        if task_id is None:
            return problem or HELP
        ok, result = await self._call("complete_task", task_id=task_id)
        if not ok:
            return f"I could not complete task {task_id}: {result}"
        return f"Marked task #{result['task_id']} as done: {result['title']}."

    async def _delete(self, ref: str) -> str:
        task_id, problem = await self._resolve(ref)
        if task_id is None:
            return problem or HELP
        ok, result = await self._call("delete_task", task_id=task_id)
        if not ok:
            return f"I could not delete task {task_id}: {result}"
        return f"Deleted task #{result['task_id']}: {result['title']}."

    async def _rename(self, ref: str, title: str) -> str:
        if not title:
            return f"What should the new title be? {HELP}"
        task_id, problem = await self._resolve(ref)
        if task_id is None:
            return problem or HELP
        ok, result = await self._call("update_task", task_id=task_id, title=title)
        if not ok:
            return f"I could not rename task {task_id}: {result}"
        return f"Renamed task #{result['task_id']} to: {result['title']}."
