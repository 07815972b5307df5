"""Local fake LLM providers that speak the real wire protocols, for the real client libraries to talk to.

Two fakes, each a stdlib `ThreadingHTTPServer` on 127.0.0.1 (a free port) in a background thread:

- Gemini REST API (v1 and v1beta), as `google-genai` (under `langchain-google-genai`) calls it:
  `POST /{v1,v1beta}/models/{model}:generateContent` and `...:streamGenerateContent?alt=sse`, key in
  `x-goog-api-key`.
  The SDK is pointed here by `GOOGLE_GEMINI_BASE_URL` (read by `google.genai._base_url.get_base_url`).
- OpenAI-compatible Chat Completions: `POST /v1/chat/completions`, with or without `"stream": true`, key in
  `Authorization: Bearer ...`. The app is pointed here by `OPENAI_BASE_URL` (→ `Settings.openai_base_url`).

A test scripts the answers in order (`text`, `tool_calls`, `stream`) and the faults (`error` with an optional
`Retry-After`, `hang`, `malformed`); every request is recorded with its parsed JSON body and the API key redacted.
Nothing here talks to the network beyond loopback.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest

FAKE_KEY = "fake-key-for-local-tests"
# google-genai 3.x calls /v1 by default (GOOGLE_AI_API_DEFAULT_VERSION); v1beta with GOOGLE_GENAI_API_VERSION=beta.
GEMINI_API_VERSIONS = ("v1", "v1beta")
Provider = Literal["gemini", "openai"]

# Variables that would send a client elsewhere (another backend, a proxy, a gateway) or give it another key.
_FOREIGN_ENV = (
    "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_API_VERSION", "GOOGLE_VERTEX_BASE_URL", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GEMINI_BASE_URL", "OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL", "OPENAI_ORG_ID",
    "OPENAI_ORGANIZATION", "OPENAI_PROXY", "LANGSMITH_GATEWAY", "LANGSMITH_GATEWAY_API_KEY", "LLM_PROVIDER",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)  # fmt: skip


# --------------------------------------------------------------------------- scripted steps


@dataclass(frozen=True)
class Text:
    """A plain answer (served as one SSE chunk to a streaming request)."""

    text: str
    prompt_tokens: int = 11
    output_tokens: int = 7


@dataclass(frozen=True)
class ToolCalls:
    """One or more function calls, optionally with some text before them."""

    calls: tuple[tuple[str, dict[str, Any]], ...]
    text: str = ""
    prompt_tokens: int = 13
    output_tokens: int = 5


@dataclass(frozen=True)
class Stream:
    """Text in several SSE chunks, `delay` seconds apart (joined into one answer for a non-streaming request)."""

    chunks: tuple[str, ...]
    delay: float = 0.05
    prompt_tokens: int = 9
    output_tokens: int = 6


@dataclass(frozen=True)
class Error:
    """An HTTP error with the provider's error body, and `Retry-After` when given."""

    status: int
    retry_after: str | None = None
    message: str = "fake failure"


@dataclass(frozen=True)
class Hang:
    """Accept the request and answer nothing for `seconds` (cut short when the server stops)."""

    seconds: float


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body (or SSE event) is not valid JSON."""


Step = Text | ToolCalls | Stream | Error | Hang | Malformed


@dataclass
class Recorded:
    """One request as the fake saw it; API key values are replaced by `<redacted>`."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when the body was not JSON
    api_key_ok: bool  # the configured FAKE_KEY was sent, in the provider's header
    at: float = field(default_factory=time.monotonic)
    step: str = ""  # which scripted step answered it ("exhausted" when the script had run out)

    @property
    def stream(self) -> bool:
        if self.path.endswith(":streamGenerateContent"):
            return True
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


# --------------------------------------------------------------------------- wire formats


_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def _gemini_usage(prompt: int, output: int) -> dict[str, int]:
    return {"promptTokenCount": prompt, "candidatesTokenCount": output, "totalTokenCount": prompt + output}


def _gemini_response(parts: list[dict[str, Any]], model: str, finish: str | None, usage: dict[str, int] | None) -> Any:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "fake-response"}
    if usage:
        body["usageMetadata"] = usage
    return body


def gemini_events(step: Text | ToolCalls | Stream, model: str) -> list[Any]:
    """The GenerateContentResponse objects for a step: one per SSE event (the last carries finish and usage)."""
    if isinstance(step, Stream):
        usage = _gemini_usage(step.prompt_tokens, step.output_tokens)
        last = len(step.chunks) - 1
        return [
            _gemini_response([{"text": c}], model, "STOP" if i == last else None, usage if i == last else None)
            for i, c in enumerate(step.chunks)
        ]
    parts: list[dict[str, Any]] = [{"text": step.text}] if step.text else []
    if isinstance(step, ToolCalls):
        parts += [{"functionCall": {"name": name, "args": args}} for name, args in step.calls]
    usage = _gemini_usage(step.prompt_tokens, step.output_tokens)
    return [_gemini_response(parts, model, "STOP", usage)]


def gemini_merge(events: list[Any]) -> Any:
    """One non-streaming response out of a step's events (a Stream's chunks joined)."""
    if len(events) == 1:
        return events[0]
    text = "".join(p.get("text", "") for e in events for p in e["candidates"][0]["content"]["parts"])
    last = events[-1]
    return _gemini_response([{"text": text}], last["modelVersion"], "STOP", last.get("usageMetadata"))


def gemini_error(error: Error) -> Any:
    return {"error": {"code": error.status, "message": error.message, "status": _GEMINI_STATUS.get(error.status, "")}}


def _openai_usage(prompt: int, output: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def _openai_tool_calls(calls: tuple[tuple[str, dict[str, Any]], ...], streaming: bool) -> list[dict[str, Any]]:
    out = []
    for i, (name, args) in enumerate(calls):
        call: dict[str, Any] = {"id": f"call_{i + 1}", "type": "function"}
        call["function"] = {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}
        out.append({"index": i, **call} if streaming else call)
    return out


def openai_response(step: Text | ToolCalls | Stream, model: str) -> Any:
    text = "".join(step.chunks) if isinstance(step, Stream) else step.text
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    finish = "stop"
    if isinstance(step, ToolCalls):
        message["tool_calls"] = _openai_tool_calls(step.calls, streaming=False)
        finish = "tool_calls"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": _openai_usage(step.prompt_tokens, step.output_tokens),
    }


def openai_events(step: Text | ToolCalls | Stream, model: str, include_usage: bool) -> list[Any]:
    """The chat.completion.chunk objects for a step; a usage-only chunk last when the client asked for it."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [choice]}  # fmt: skip

    texts = list(step.chunks) if isinstance(step, Stream) else ([step.text] if step.text else [])
    events = [chunk({"role": "assistant", "content": texts[0] if texts else ""})]
    events += [chunk({"content": t}) for t in texts[1:]]
    finish = "stop"
    if isinstance(step, ToolCalls):
        events.append(chunk({"tool_calls": _openai_tool_calls(step.calls, streaming=True)}))
        finish = "tool_calls"
    events.append(chunk({}, finish))
    if include_usage:
        usage = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": []}
        events.append({**usage, "usage": _openai_usage(step.prompt_tokens, step.output_tokens)})
    return events


def openai_error(error: Error) -> Any:
    kind = "rate_limit_exceeded" if error.status == 429 else "server_error"
    return {"error": {"message": error.message, "type": kind, "param": None, "code": kind}}


# --------------------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) resets the socket: expected, so recorded, never printed."""
        self.fake.errors.append(repr(sys.exc_info()[1]))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's record is the log."""

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(self.path)
        record = Recorded("POST", url.path, parse_qs(url.query), fake.redact(dict(self.headers)), body,
                          fake.key_ok(self.headers))  # fmt: skip
        step = fake.take(record)
        fake.serve(self, record, step)

    # ---- low-level writers used by FakeLLMServer.serve

    def send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, events: list[bytes], delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for i, event in enumerate(events):
            if i and delay:
                time.sleep(delay)
            self.wfile.write(f"{len(event):X}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeLLMServer:
    """One fake provider on 127.0.0.1:<free port>, scripted per test, recording every request."""

    def __init__(self, provider: Provider, api_key: str = FAKE_KEY) -> None:
        self.provider = provider
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.errors: list[str] = []  # connection errors while answering (a client that timed out and left)
        self._script: list[Step] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name=f"fake-{provider}", daemon=True
        )  # a short poll interval: stop() returns at once

    # ---- lifecycle

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """What the client is configured with: the server root for Gemini, the `/v1` API root for OpenAI."""
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/v1" if self.provider == "openai" else f"{root}/"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes any Hang at once
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ---- scripting

    def script(self, *steps: Step) -> FakeLLMServer:
        with self._lock:
            self._script.extend(steps)
        return self

    def text(self, text: str, prompt_tokens: int = 11, output_tokens: int = 7) -> FakeLLMServer:
        return self.script(Text(text, prompt_tokens, output_tokens))

    def tool_calls(self, *calls: tuple[str, dict[str, Any]], text: str = "") -> FakeLLMServer:
        return self.script(ToolCalls(tuple(calls), text))

    def stream(self, *chunks: str, delay: float = 0.05) -> FakeLLMServer:
        return self.script(Stream(tuple(chunks), delay))

    def error(self, status: int, retry_after: str | None = None, message: str = "fake failure") -> FakeLLMServer:
        return self.script(Error(status, retry_after, message))

    def hang(self, seconds: float) -> FakeLLMServer:
        return self.script(Hang(seconds))

    def malformed(self) -> FakeLLMServer:
        return self.script(Malformed())

    def reset(self) -> FakeLLMServer:
        """Forget the script and the recorded requests (a second scenario in the same test)."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
        return self

    @property
    def pending(self) -> list[Step]:
        """Scripted steps no request has consumed yet."""
        with self._lock:
            return list(self._script)

    # ---- request handling (called from the server's threads)

    def redact(self, headers: dict[str, str]) -> dict[str, str]:
        secret = {"x-goog-api-key", "authorization", "api-key"}
        return {k.lower(): ("<redacted>" if k.lower() in secret else v) for k, v in headers.items()}

    def key_ok(self, headers: Any) -> bool:
        if self.provider == "gemini":
            return bool(headers.get("x-goog-api-key") == self.api_key)
        return bool(headers.get("Authorization") == f"Bearer {self.api_key}")

    def take(self, record: Recorded) -> Step | None:
        with self._lock:
            step = self._script.pop(0) if self._script else None
            record.step = type(step).__name__ if step else "exhausted"
            self.requests.append(record)
        return step

    def serve(self, handler: _Handler, record: Recorded, step: Step | None) -> None:
        route = self._route(record)
        if route is None:
            handler.send_json(404, {"error": {"code": 404, "message": f"no such route {record.path}"}})
            return
        model, streaming = route
        if step is None:
            step = Error(500, message="fake LLM: the test's script ran out")
        if isinstance(step, Hang):
            self._stopping.wait(step.seconds)
            step = Error(504, message="fake LLM: answered after hanging")
        if isinstance(step, Error):
            headers = {"Retry-After": step.retry_after} if step.retry_after is not None else {}
            body = gemini_error(step) if self.provider == "gemini" else openai_error(step)
            handler.send_json(step.status, body, headers)
        elif isinstance(step, Malformed):
            if streaming:
                handler.send_sse([b'data: {"truncated": [{"content": \n\n'], 0)
            else:
                handler.send_json(200, b'{"truncated": [{"content": {"parts": [')
        elif self.provider == "gemini":
            events = gemini_events(step, model)
            if streaming:
                handler.send_sse([_sse(e) for e in events], step.delay if isinstance(step, Stream) else 0)
            else:
                handler.send_json(200, gemini_merge(events))
        elif streaming:
            options = record.body.get("stream_options") or {}
            events = openai_events(step, model, include_usage=bool(options.get("include_usage")))
            handler.send_sse([*(_sse(e) for e in events), b"data: [DONE]\n\n"],
                             step.delay if isinstance(step, Stream) else 0)  # fmt: skip
        else:
            handler.send_json(200, openai_response(step, model))

    def _route(self, record: Recorded) -> tuple[str, bool] | None:
        """(model, streaming) for a request this provider serves, or None."""
        if self.provider == "gemini":
            version, _, rest = record.path.removeprefix("/").partition("/models/")
            if version not in GEMINI_API_VERSIONS or ":" not in rest:
                return None
            model, method = rest.split(":", 1)
            if method == "generateContent":
                return model, False
            if method == "streamGenerateContent" and record.query.get("alt") == ["sse"]:
                return model, True
            return None
        if record.path != "/v1/chat/completions" or not isinstance(record.body, dict):
            return None
        return str(record.body.get("model", "")), bool(record.body.get("stream"))

    # ---- what the client sent

    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    def last(self) -> Recorded:
        assert self.requests, "the fake received no request"
        return self.requests[-1]


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


# --------------------------------------------------------------------------- fixtures


def _isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _serving(monkeypatch: pytest.MonkeyPatch, provider: Provider, base_url_env: str) -> Iterator[FakeLLMServer]:
    """A fake provider on a free port, the SDK's base-URL variable pointing at it, stopped afterwards."""
    _isolate_env(monkeypatch)
    server = FakeLLMServer(provider).start()
    monkeypatch.setenv(base_url_env, server.url)
    yield server
    server.stop()


@pytest.fixture
def fake_gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """A fake Gemini API; `google-genai` clients built during the test talk to it (GOOGLE_GEMINI_BASE_URL)."""
    yield from _serving(monkeypatch, "gemini", "GOOGLE_GEMINI_BASE_URL")


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """A fake OpenAI-compatible API; `Settings()` reads its URL from OPENAI_BASE_URL, as the app does."""
    yield from _serving(monkeypatch, "openai", "OPENAI_BASE_URL")
