"""One customer turn, whatever the channel (POST /chat, LangServe, the playground, Telegram).

`ChatService` owns the compiled graph with its checkpointer. A turn resumes a pending order confirmation when
there is one (a clear yes or no answers it; anything else leaves the order unconfirmed and is answered as a new
question), runs the graph otherwise, and records the exchange in the Conversation/Message tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.types import Command

import graph as agent_graph
from agent.checkout import answers as answers_checkout
from agent.checkout import asking_for
from agent.context import AgentContext
from agent.llm import build_llm
from agent.llm_retry import LLMTurn, ReplySink, empty_usage, llm_turn
from agent.orders import answer_kind
from data.conversations import record_turns, record_turns_sqlite
from data.db import write_session
from data.order_notices import any_for_thread, claim_for_thread, text_of
from settings import Settings
from state import ProductFact
from tools.catalog import CatalogService

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One answered turn waiting to be written to the record."""

    thread_id: str
    channel: str
    user_text: str
    reply: str
    route: str | None


class ConversationRecorder:
    """Writes finished turns to the Conversation/Message tables off the customer's critical path.

    Turns queue up and a single writer stores them in batches (one transaction per batch, in arrival order).
    Readers of the record call `flush()` first, so a history request never misses a turn already answered; on
    shutdown the queue is drained. A failed batch is retried turn by turn and what still fails is logged.
    """

    def __init__(self, catalog: CatalogService, max_batch: int = 64) -> None:
        self.catalog = catalog
        self.max_batch = max_batch
        url = catalog.engine.url
        self._sqlite_path = url.database if url.get_backend_name() == "sqlite" and url.database != ":memory:" else None
        self._sqlite: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[TurnRecord] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.failed = 0

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="conversation-recorder")

    def put(self, record: TurnRecord) -> None:
        self._queue.put_nowait(record)

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._sqlite is not None:
            self._sqlite.close()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.warning("recording a batch of %d turns failed; retrying one by one", len(batch), exc_info=True)
                for record in batch:
                    try:
                        await self._write([record])
                    except Exception:
                        self.failed += 1
                        log.exception("could not record a turn of thread %s", record.thread_id)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[TurnRecord]) -> None:
        rows = [(r.thread_id, r.channel, r.user_text, r.reply, r.route) for r in batch]
        if self._sqlite_path:
            await asyncio.to_thread(self._write_sqlite, rows)
            return
        async with write_session(self.catalog.sessions) as session:
            await record_turns(session, rows)

    def _write_sqlite(self, rows: list[tuple[str, str, str, str, str | None]]) -> None:
        if self._sqlite is None:
            assert self._sqlite_path is not None
            self._sqlite = sqlite3.connect(self._sqlite_path, check_same_thread=False, timeout=30)
            self._sqlite.execute("PRAGMA busy_timeout = 30000")
            self._sqlite.execute("PRAGMA foreign_keys = ON")
        record_turns_sqlite(self._sqlite, rows)


@dataclass
class TurnResult:
    """What one turn produced, for any channel."""

    reply: str
    thread_id: str
    route: str | None
    products: list[ProductFact] = field(default_factory=list)
    cached: bool = False
    awaiting_confirmation: bool = False
    asking: str | None = None  # the checkout detail the reply asks for: name, contact, delivery, address...
    latency_ms: float = 0.0
    # LLM requests and tokens of this turn (router + reply rounds): llm_calls, input/output/total_tokens.
    usage: dict[str, int] = field(default_factory=empty_usage)
    first_chunk_ms: float | None = None  # streamed turns: when the customer saw the first words


class ChatService:
    """The agent for one process: graph + checkpointer + context."""

    def __init__(self, settings: Settings, catalog: CatalogService, context: AgentContext | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.context = context or AgentContext.build(catalog, settings, build_llm(settings))
        self._stack = AsyncExitStack()
        self.graph: Any = None
        self._threads_by_history: OrderedDict[str, str] = OrderedDict()
        self.recorder = ConversationRecorder(catalog)

    async def start(self) -> None:
        """Open the checkpointer inside the running loop (AsyncSqliteSaver must be created there)."""
        if self.settings.checkpointer == "sqlite":
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            path = self.settings.var_dir / "checkpoints.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            saver: Any = await self._stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(path)))
            await saver.setup()
        elif self.settings.checkpointer == "redis":
            # Several app instances share conversations through one Redis (needs RedisJSON + RediSearch).
            from langgraph.checkpoint.redis.aio import AsyncRedisSaver

            saver = await self._stack.enter_async_context(
                AsyncRedisSaver.from_conn_string(self.settings.resolved_redis_url)
            )
            await saver.asetup()
        else:
            from langgraph.checkpoint.memory import InMemorySaver

            saver = InMemorySaver()
        await self.context.cache.start()
        assistant = self.context.llm is not None and self.settings.llm_mode == "agent"
        self.graph = agent_graph.compile(saver, assistant=assistant)
        self.context.router.warm_up()
        _ = self.catalog.index.snapshot().vocabulary  # built once here, not on a customer's first question
        await asyncio.to_thread(self.context.shop.policies.sections)  # the policies' index, likewise
        self.recorder.start()

    async def close(self) -> None:
        await self.recorder.close()
        await self.context.cache.close()
        await self._stack.aclose()

    def config(self, thread_id: str, role: str = "customer", channel: str | None = None) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id, "role": role, **({"channel": channel} if channel else {})}}

    async def notices(self, thread_id: str) -> str:
        """The shop's status changes on this conversation's orders not told yet, once ("Novedades de tu pedido…")."""
        try:
            async with self.catalog.sessions() as session:
                if not await any_for_thread(session, thread_id):
                    return ""
            async with write_session(self.catalog.sessions) as session:
                found = await claim_for_thread(session, thread_id)
        except Exception:  # a notice is never worth failing a turn over
            log.exception("order notices of thread %s could not be read", thread_id)
            return ""
        return "".join(f"{text_of(n)}\n\n" for n in found)

    async def turn(
        self,
        message: str,
        *,
        thread_id: str | None = None,
        channel: str = "http",
        role: str = "customer",
        sink: ReplySink | None = None,
    ) -> TurnResult:
        """Answer one message; with `sink`, the LLM's checked sentences are released to it as they come.

        The graph never runs with the caller's callbacks: a LangServe client streaming events would otherwise see
        the model's unchecked tokens, the system prompt and the tool traffic (server-side tracing, LANGSMITH_*,
        still sees every node).
        """
        started = time.perf_counter()
        thread_id = thread_id or uuid.uuid4().hex
        config = self.config(thread_id, role, channel)
        # One LLM budget, retry policy and usage tally for everything this turn asks the LLM (agent.llm_retry).
        llm = LLMTurn(self.context.llm_timeout, self.settings.llm_max_retries, self.settings.llm_history_tokens)
        llm.sink = sink
        with llm_turn(llm):
            snapshot = await self.graph.aget_state(config)
            # only a conversation that went through a checkout can have orders to tell about (saves a query a turn)
            prefix = await self.notices(thread_id) if (snapshot.values or {}).get("order_details") else ""
            if snapshot.interrupts:
                kind = answer_kind(message)
                # a yes or no, or a correction of the details shown ("no, el portal es el 3B"), answers the question
                if kind != "other" or answers_checkout(message, snapshot.values or {}):
                    out = await self._run(Command(resume=message), config)
                    return await self._finish(
                        out, message, thread_id, channel, started, prefix, llm.usage.summary(), sink
                    )
                await self._run(Command(resume="no"), config)  # a new question: leave the order unconfirmed
                prefix += "(He dejado el pedido sin confirmar; tu carrito sigue guardado.)\n\n"
            out = await self._run({"messages": [HumanMessage(message)]}, config)
        return await self._finish(out, message, thread_id, channel, started, prefix, llm.usage.summary(), sink)

    async def _run(self, payload: Any, config: dict[str, Any]) -> dict[str, Any]:
        # Not a child of the caller's run: LangGraph would merge the caller's callbacks (a LangServe stream_events
        # client's) back in from the context, and they would see every node.
        token = var_child_runnable_config.set(None)
        try:
            result: dict[str, Any] = await self.graph.ainvoke(payload, config, context=self.context, durability="exit")
        finally:
            var_child_runnable_config.reset(token)
        return result

    async def _finish(
        self,
        out: dict[str, Any],
        message: str,
        thread_id: str,
        channel: str,
        started: float,
        prefix: str = "",
        usage: dict[str, int] | None = None,
        sink: ReplySink | None = None,
    ) -> TurnResult:
        interrupts = out.get("__interrupt__") or []
        routes = out.get("routes") or []
        if interrupts:
            reply = str(interrupts[0].value.get("question", ""))
            route: str | None = "orders"
        else:
            messages = out.get("messages") or []
            reply = str(messages[-1].content) if messages else ""
            route = routes[0] if routes else None
        released = sink.released if sink else ""
        if released.strip() and not reply.startswith(released):
            # The model's checked sentences were streamed before it failed: the offline answer follows them.
            reply = f"{released.rstrip()}\n\n{reply}"
        reply = prefix + reply
        self.recorder.put(TurnRecord(thread_id, channel, message, reply, route))
        return TurnResult(
            reply=reply,
            thread_id=thread_id,
            route=route,
            products=_shown(out) if not interrupts else [],
            cached=out.get("cache") == "hit",
            awaiting_confirmation=bool(interrupts),
            asking=None if interrupts else asking_for(out),
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            usage=usage or empty_usage(),
        )

    def stream(
        self,
        message: str,
        *,
        thread_id: str | None = None,
        channel: str = "http",
        role: str = "customer",
    ) -> StreamedTurn:
        """One turn's reply as it is written (iterate it); its TurnResult is in `.result` afterwards."""
        return StreamedTurn(self, message, {"thread_id": thread_id, "channel": channel, "role": role})

    # ------------------------------------------------------------------ stateless clients (chat playground)

    def thread_for_history(self, history: Sequence[AnyMessage]) -> str:
        """A thread id for clients that resend the whole conversation each time (the LangServe chat playground).

        The history before the new message identifies the conversation: if we answered exactly that history
        before, it is the same thread, so references like "el segundo" keep working.
        """
        key = _history_key(history)
        thread = self._threads_by_history.get(key)
        return thread or f"pg-{uuid.uuid4().hex}"

    def remember_history(self, history: Sequence[AnyMessage], reply: str, thread_id: str) -> None:
        from langchain_core.messages import AIMessage

        key = _history_key([*history, AIMessage(reply)])
        self._threads_by_history[key] = thread_id
        while len(self._threads_by_history) > 10000:
            self._threads_by_history.popitem(last=False)


def _shown(out: dict[str, Any]) -> list[ProductFact]:
    """The products this reply presents (not the list still in play for references), once each."""
    seen: set[Any] = set()
    shown: list[ProductFact] = []
    for fact in out.get("shown") or []:
        if fact.get("sku") not in seen:
            seen.add(fact.get("sku"))
            shown.append(fact)
    return shown


def _history_key(history: Sequence[AnyMessage]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for message in history:
        content = message.content if isinstance(message.content, str) else str(message.content)
        digest.update(f"{message.type}\x1f{content.strip()}\x1e".encode())
    return digest.hexdigest()


class StreamedTurn:
    """A turn whose reply arrives in chunks: the model's checked sentences as they come, otherwise one chunk.

    The chunks joined are the turn's reply; `result` (with `first_chunk_ms`) is set once they are all out.
    """

    def __init__(self, chat: ChatService, message: str, options: dict[str, Any]) -> None:
        self.chat = chat
        self.message = message
        self.options = options
        self.result: TurnResult | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[str]:
        sink = ReplySink()
        started = time.perf_counter()
        task = asyncio.create_task(self.chat.turn(self.message, sink=sink, **self.options))
        sent, first = "", None
        try:
            while not (task.done() and sink.queue.empty()):
                getter = asyncio.ensure_future(sink.queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                if chunk := getter.result():
                    first = first or time.perf_counter()
                    sent += chunk
                    yield chunk
            result = task.result()
        finally:
            if not task.done():
                task.cancel()
        rest = result.reply[len(sent) :] if result.reply.startswith(sent) else result.reply
        if rest:
            first = first or time.perf_counter()
            yield rest
        result.first_chunk_ms = round(((first or time.perf_counter()) - started) * 1000, 2)
        self.result = result
