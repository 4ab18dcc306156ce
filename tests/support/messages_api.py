"""A local HTTP server that speaks the Anthropic Messages API and replays scripted replies.

Point the real `anthropic` SDK at it (base_url / ANTHROPIC_BASE_URL) to test an agent loop
without the internet and without mocking the code under test.

    from support.messages_api import MessagesAPIServer, text, tool_use

    with MessagesAPIServer() as api:                 # 127.0.0.1, ephemeral port
        api.script(
            tool_use("list_tasks", {"status": "all"}),   # turn 1: the model asks for a tool
            text("You have no tasks."),                  # turn 2: the final answer
        )
        client = anthropic.Anthropic(api_key="test", base_url=api.base_url)
        ...
        api.requests[1].tool_results()   # what the agent sent back for the tool call
        api.remaining                    # scripted turns not consumed yet (0 when all were used)

Each POST /v1/messages consumes the next scripted turn. A turn is a reply (built with `text`,
`tool_use`, `reply`), an `error(...)` (an HTTP error in the API's error format), or a callable
`(RecordedRequest) -> turn` to compute the reply from what was sent. When the script is exhausted the
server answers 400 `invalid_request_error` naming the problem, so the test fails loudly (400 is not
retried by the SDK). A request with `"stream": true` gets the same reply as server-sent events (message_start,
each block's start, one delta and stop, message_delta, message_stop), as the API streams it.
Every request is recorded (`api.requests`), with its JSON body and headers, `x-api-key` redacted.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MessagesAPIServer", "RecordedRequest", "Reply", "ErrorReply", "text", "tool_use", "reply", "error"]

_ids = itertools.count(1)


@dataclass
class Reply:
    """One assistant message: content blocks and a stop reason."""

    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 10, "output_tokens": 10})


@dataclass
class ErrorReply:
    status: int
    type: str
    message: str


Turn = Reply | ErrorReply | Callable[["RecordedRequest"], "Reply | ErrorReply"]


def text(message: str, *, stop_reason: str = "end_turn") -> Reply:
    """A plain text answer."""
    return Reply(content=[{"type": "text", "text": message}], stop_reason=stop_reason)


def tool_use(name: str, arguments: dict[str, Any], *, tool_id: str | None = None, preamble: str | None = None) -> Reply:
    """The model calls one tool (stop_reason "tool_use"). For several calls in one turn use `reply`."""
    return reply(*([{"type": "text", "text": preamble}] if preamble else []), tool_block(name, arguments, tool_id=tool_id))


def tool_block(name: str, arguments: dict[str, Any], *, tool_id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id or f"toolu_{next(_ids):04d}", "name": name, "input": arguments}


def reply(*blocks: dict[str, Any], stop_reason: str | None = None) -> Reply:
    """Any mix of content blocks; the stop reason is "tool_use" when a tool_use block is present."""
    inferred = "tool_use" if any(block["type"] == "tool_use" for block in blocks) else "end_turn"
    return Reply(content=list(blocks), stop_reason=stop_reason or inferred)


def error(status: int = 529, type: str = "overloaded_error", message: str = "Overloaded") -> ErrorReply:  # noqa: A002
    """An API error. Note the SDK retries 408/409/429/5xx (set max_retries or script the retries)."""
    return ErrorReply(status=status, type=type, message=message)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def tool_names(self) -> list[str]:
        return [tool["name"] for tool in self.body.get("tools", [])]

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of the last user message."""
        if not self.messages:
            return []
        content = self.messages[-1].get("content")
        if not isinstance(content, list):
            return []
        return [block for block in content if block.get("type") == "tool_result"]


class MessagesAPIServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._turns: list[Turn] = []
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MessagesAPIServer:
        # stop() waits for serve_forever's next poll: 0.5 s by default, paid by every test that used the server
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="messages-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> MessagesAPIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- script ------------------------------------------------------------
    def script(self, *turns: Turn) -> None:
        """Append turns to the script (consumed in order, one per request)."""
        with self._lock:
            self._turns.extend(turns)

    def reset(self) -> None:
        """Forget the remaining turns and the recorded requests."""
        with self._lock:
            self._turns.clear()
            self.requests.clear()

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._turns)

    def _next(self, request: RecordedRequest) -> Reply | ErrorReply:
        with self._lock:
            self.requests.append(request)
            turn = self._turns.pop(0) if self._turns else None
        if turn is None:
            return ErrorReply(400, "invalid_request_error",
                              f"scripted Messages API: no reply left for request #{len(self.requests)}")
        return turn(request) if callable(turn) else turn

    # --- HTTP --------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_scripted_{next(_ids)}")
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, type_: str, message: str) -> None:
                self._send(status, {"type": "error", "error": {"type": type_, "message": message}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                if path != "/v1/messages":
                    self._error(404, "not_found_error", f"scripted Messages API serves POST /v1/messages, not {path}")
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._error(400, "invalid_request_error", "body is not JSON")
                    return
                headers = {k.lower(): ("<redacted>" if k.lower() in ("x-api-key", "authorization") else v)
                           for k, v in self.headers.items()}
                turn = server._next(RecordedRequest(path, headers, body))
                if isinstance(turn, ErrorReply):
                    self._error(turn.status, turn.type, turn.message)
                    return
                message = {
                    "id": f"msg_scripted_{next(_ids):04d}", "type": "message", "role": "assistant",
                    "model": body.get("model", "scripted"), "content": turn.content,
                    "stop_reason": turn.stop_reason, "stop_sequence": None, "usage": turn.usage,
                }
                if body.get("stream"):
                    self._send_events(message)
                else:
                    self._send(200, message)

            def _send_events(self, message: dict[str, Any]) -> None:
                events = [("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                                         "usage": {**message["usage"], "output_tokens": 0}}})]
                for index, block in enumerate(message["content"]):
                    if block["type"] == "tool_use":
                        start = {**block, "input": {}}
                        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                    else:
                        start = {**block, "text": ""}
                        delta = {"type": "text_delta", "text": block["text"]}
                    events += [("content_block_start", {"index": index, "content_block": start}),
                               ("content_block_delta", {"index": index, "delta": delta}),
                               ("content_block_stop", {"index": index})]
                events += [("message_delta", {"delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                              "usage": {"output_tokens": message["usage"]["output_tokens"]}}),
                           ("message_stop", {})]
                data = "".join(f"event: {name}\ndata: {json.dumps({'type': name, **fields})}\n\n" for name, fields in events).encode()
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
