"""A fake Telegram Bot API server on 127.0.0.1: real HTTP, the URL layout `{base_url}{token}/{method}`.

It runs in a thread of its own (like a remote server: it answers whatever the test's event loop is doing) and
speaks the Bot API as python-telegram-bot uses it: form-encoded parameters (JSON values for objects), answers
`{"ok": true, "result": ...}`, errors `{"ok": false, "error_code", "description", "parameters"}`. It records every
call; it can answer 429 with `parameters.retry_after` or a 5xx for the next N calls of a method; it serves
queued updates to getUpdates (long polling).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 7000001
BOT_USERNAME = "tienda_test_bot"
TOKEN = f"{BOT_ID}:TEST-token_abcdefghijklmnopqrstuvwxyz"
JSON_FIELDS = {
    "chat_id", "message_id", "reply_markup", "reply_parameters", "allowed_updates", "offset", "timeout", "limit",
    "drop_pending_updates", "max_connections", "show_alert", "disable_notification",
}  # fmt: skip


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    ok: bool = False  # answered 200 (not a simulated failure)
    result: Any = None

    @property
    def message_id(self) -> int:
        """The id of the message this call created or edited."""
        return int(self.result["message_id"])

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


@dataclass
class Failure:
    status: int
    times: int
    retry_after: int | None = None
    chat_id: int | None = None


class FakeTelegram:
    """Start with `start()`, stop with `stop()`; `base_url` goes to TELEGRAM_API_BASE_URL."""

    def __init__(self, token: str = TOKEN, *, poll_cap: float = 0.3) -> None:
        self.token = token
        self.poll_cap = poll_cap  # longest a getUpdates call is held, whatever timeout it asks for
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] = {}
        self._failures: dict[str, list[Failure]] = {}
        self._updates: list[dict[str, Any]] = []
        self._message_ids = itertools.count(1000)
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up mid-request (a test ending): nothing to report

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-telegram", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    # ------------------------------------------------------------------ what the tests use

    def fail(
        self, method: str, status: int, *, times: int = 1, retry_after: int | None = None, chat_id: int | None = None
    ) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) answer `status`."""
        with self._lock:
            self._failures.setdefault(method, []).append(Failure(status, times, retry_after, chat_id))

    def push_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self._updates.append(update)
            self._lock.notify_all()

    def of(self, method: str, chat_id: int | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def messages(self, chat_id: int | None = None) -> list[Call]:
        """sendMessage calls that got through (answered ok)."""
        return [c for c in self.of("sendMessage", chat_id) if c.ok]

    def texts(self, chat_id: int) -> list[str]:
        return [c.text for c in self.messages(chat_id)]

    async def wait_for(self, predicate: Callable[[], Any], within: float = 15.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; calls: {[(c.method, c.chat_id) for c in self.calls]}")

    async def wait_messages(self, chat_id: int, count: int, within: float = 15.0) -> list[str]:
        await self.wait_for(lambda: len(self.messages(chat_id)) >= count, within, f"{count} messages to {chat_id}")
        return self.texts(chat_id)

    # ------------------------------------------------------------------ HTTP

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            self._reply(request, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = request.path[len(prefix) :]
        params = self._params(request)
        call = Call(method, params)
        with self._lock:
            self.calls.append(call)
            failure = self._take_failure(method, call.chat_id)
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": "Internal Server Error"}
            if failure.retry_after is not None:
                body["description"] = f"Too Many Requests: retry after {failure.retry_after}"
                body["parameters"] = {"retry_after": failure.retry_after}
            self._reply(request, failure.status, body)
            return
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            self._reply(request, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        call.result = handler(params)
        call.ok = True
        result = call.result
        self._reply(request, 200, {"ok": True, "result": result})

    def _take_failure(self, method: str, chat_id: int | None) -> Failure | None:
        for failure in self._failures.get(method, []):
            if failure.times > 0 and (failure.chat_id is None or failure.chat_id == chat_id):
                failure.times -= 1
                return failure
        return None

    @staticmethod
    def _params(request: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        kind = request.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            data: dict[str, Any] = json.loads(raw or b"{}")
            return data
        params: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode(), keep_blank_values=True):
            params[key] = json.loads(value) if key in JSON_FIELDS else value
        return params

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    # ------------------------------------------------------------------ Bot API methods

    def _api_getMe(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Tienda",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _message(self, params: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return {
            "message_id": message_id or next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": self._api_getMe({}),
            "text": params.get("text", ""),
        }

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params)

    def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(params, int(params["message_id"]))

    def _api_sendChatAction(self, _params: dict[str, Any]) -> bool:
        return True

    def _api_answerCallbackQuery(self, _params: dict[str, Any]) -> bool:
        return True

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _api_deleteWebhook(self, _params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), self.poll_cap)
        deadline = time.monotonic() + wait
        with self._lock:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]  # offset confirms the rest
            while not self._updates and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            return list(self._updates)
