"""What an eval talks to: in-process agents (one fresh catalogue per session) or a running server over HTTP.

Targets: `offline`, `gemini`, `openai` (an in-process ChatService with that LLM provider) or `http://HOST:PORT`
(a running server, `POST /chat`). Over HTTP the tool trajectory and the orders table are not observable, and
prices and stock are read from `GET /productos/search`; the server's catalogue is shared by all sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from agent.context import AgentContext
from agent.llm import build_llm, close_llm
from agent.router import Router
from chat import ChatService
from data.migrate import upgrade
from data.models import Order, Product
from evals import usage
from evals.environment import fresh_var
from evals.trajectory import record_shop
from settings import Settings
from tools.catalog import CatalogService
from tools.langchain_tools import build_langchain_tools
from tools.shop import Shop
from vectorstore.cache_setup import build_cache
from vectorstore.embeddings import build_embedder

CUSTOMER_FILE = Path(__file__).parent / "datasets" / "customer.json"
MAX_DETAIL_ANSWERS = 8


@functools.lru_cache(maxsize=1)
def customer() -> dict[str, str]:
    """What the eval customer answers to each checkout question (evals/datasets/customer.json)."""
    data = json.loads(CUSTOMER_FILE.read_text(encoding="utf-8"))
    return {k: str(v) for k, v in data.items() if not k.startswith("_")}


class Session:
    """One conversation partner: answers turns and can read prices, stock and the number of orders."""

    observes_tools = True
    observes_orders = True

    async def turn(self, text: str, thread_id: str) -> dict[str, Any]:
        """One customer turn; when the shop's checkout then asks for details, the eval customer answers them.

        Those answers are not turns of the dataset: what they bring back is part of this turn's observation (the
        replies joined, the tools of all), so "tramita el pedido" is judged on the confirmation it leads to.
        """
        observed = await self.one_turn(text, thread_id)
        for _ in range(MAX_DETAIL_ANSWERS):
            answer = customer().get(str(observed.get("asking") or ""))
            if not answer:
                break
            more = await self.one_turn(answer, thread_id, new_turn=False)
            observed = {
                **observed,
                "reply": f"{observed['reply']}\n\n{more['reply']}",
                "awaiting_confirmation": more["awaiting_confirmation"],
                "asking": more.get("asking"),
                # the tools recorded since the customer's message (the answers' calls are part of its checkout)
                **{k: more[k] for k in ("tools", "tool_products", "tool_quantities") if more.get(k) is not None},
            }
        return observed

    async def one_turn(self, text: str, thread_id: str, *, new_turn: bool = True) -> dict[str, Any]:
        """One message; `new_turn=False` for the eval customer's detail answers (tools keep accumulating)."""
        raise NotImplementedError

    async def db_facts(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    async def order_count(self) -> int | None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class InProcessSession(Session):
    """A ChatService on its own var dir (a copy of the seeded catalogue) with the Shop's calls recorded."""

    def __init__(self, shared: InProcessTarget, var: Path) -> None:
        self.shared = shared
        self.var = var
        self.chat: Any = None
        self.catalog: Any = None
        self.recorder: Any = None

    async def open(self) -> None:
        settings = self.shared.settings(self.var)
        self.catalog = CatalogService(settings, embedder=self.shared.embedder)
        await self.catalog.load()
        await upgrade(self.catalog.engine)  # one migration at a time in the process (data.migrate)
        shop = Shop(self.catalog)
        self.recorder = record_shop(shop)
        context = AgentContext(
            shop=shop,
            router=self.shared.router,
            cache=build_cache(settings, self.shared.embedder),
            llm=self.shared.llm,
            llm_timeout=settings.llm_timeout,
            tools=build_langchain_tools(shop),
        )
        self.chat = ChatService(settings, self.catalog, context=context)
        await self.chat.start()

    async def one_turn(self, text: str, thread_id: str, *, new_turn: bool = True) -> dict[str, Any]:
        if new_turn:
            self.recorder.reset()
        result = await self.chat.turn(text, thread_id=thread_id, channel="eval")
        usage.record(result.usage)
        return {
            "reply": result.reply,
            "route": result.route,
            "products": [{"sku": p.get("sku"), "name": p.get("name")} for p in result.products],
            "cached": result.cached,
            "awaiting_confirmation": result.awaiting_confirmation,
            "asking": result.asking,
            "latency_ms": result.latency_ms,
            "tools": self.recorder.tools(awaiting_confirmation=result.awaiting_confirmation),
            "tool_products": list(self.recorder.products),
            "tool_quantities": list(self.recorder.quantities),
        }

    async def db_facts(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not skus:
            return {}
        async with self.catalog.sessions() as session:
            rows = (await session.execute(select(Product).where(Product.sku.in_(list(skus))))).scalars().all()  # type: ignore[attr-defined]
        return {p.sku: {"price": f"{Decimal(p.price):.2f}", "stock": int(p.stock), "name": p.name} for p in rows}

    async def order_count(self) -> int | None:
        async with self.catalog.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(Order))).scalar_one())

    async def close(self) -> None:
        if self.chat is not None:
            await self.chat.close()
        if self.catalog is not None:
            await self.catalog.close()
        shutil.rmtree(self.var, ignore_errors=True)


class HttpSession(Session):
    """A running server: POST /chat, prices and stock from GET /productos/search."""

    observes_tools = False
    observes_orders = False

    def __init__(self, client: Any) -> None:
        self.client = client

    async def one_turn(self, text: str, thread_id: str, *, new_turn: bool = True) -> dict[str, Any]:
        started = time.perf_counter()
        response = await self.client.post("/chat", json={"message": text, "thread_id": thread_id})
        response.raise_for_status()
        body = response.json()
        usage.record(body.get("usage"))
        return {
            "reply": body.get("reply", ""),
            "route": body.get("route"),
            "products": [{"sku": p.get("sku"), "name": p.get("name")} for p in body.get("products") or []],
            "cached": bool(body.get("cached")),
            "awaiting_confirmation": bool(body.get("awaiting_confirmation")),
            "asking": body.get("asking"),
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "tools": None,
        }

    async def db_facts(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for sku in skus:
            hits = (await self.client.get("/productos/search", params={"q": sku, "limite": 3})).json()
            for hit in hits if isinstance(hits, list) else []:
                if hit.get("sku") == sku:
                    out[sku] = {
                        "price": f"{Decimal(str(hit['price'])):.2f}",
                        "stock": hit["stock"],
                        "name": hit["name"],
                    }
        return out

    async def order_count(self) -> int | None:
        return None


class InProcessTarget:
    """What all in-process sessions share: the seeded var template, the embedder, the router and the LLM."""

    def __init__(self, provider: str, template: Path, workdir: Path, embedder: Any = None) -> None:
        self.provider = provider
        self.template = template
        self.workdir = workdir
        self.embedder = embedder or build_embedder(Settings.isolated(embeddings_provider="use"))
        self.llm = build_llm(self.settings(template))
        self.router = Router(self.embedder, self.llm)
        self.router.warm_up()

    def settings(self, var: Path) -> Settings:
        """Settings of one session: its own var dir, memory checkpointer and cache."""
        return Settings.isolated(
            var_dir=var, embeddings_provider="use", llm_provider=self.provider, checkpointer="memory",
            cache_backend="memory", database_url="", index_dir="",
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """A session on a fresh copy of the catalogue."""
        var = self.workdir / f"var-{uuid.uuid4().hex[:10]}"
        await asyncio.to_thread(shutil.copytree, self.template, var)
        session = InProcessSession(self, var)
        try:
            await session.open()
            yield session
        finally:
            await session.close()


class HttpTarget:
    """Sessions against a running server (they all share its catalogue)."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=120)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """The shared HTTP client as a session."""
        yield HttpSession(self.client)

    async def aclose(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def open_target(target: str, var_template: Path | None = None, embedder: Any = None) -> AsyncIterator[Any]:
    """The target's session factory; in-process targets build the seeded catalogue once (or use `var_template`)."""
    if target.startswith(("http://", "https://")):
        http = HttpTarget(target)
        try:
            yield http
        finally:
            await http.aclose()
        return
    with tempfile.TemporaryDirectory(prefix="eval-run-") as tmp:
        workdir = Path(tmp)
        if var_template is None:
            var_template = await asyncio.to_thread(fresh_var, workdir / "template")
        shared = InProcessTarget(target, var_template, workdir, embedder)
        try:
            yield shared
        finally:
            await close_llm(shared.llm)  # its HTTP connections, or they linger until garbage collection


def thread_for(session: Session, item_id: str) -> str:
    """Stable thread ids in-process (reproducible wording), unique ones against a server that keeps its threads."""
    return f"eval-{item_id}" if isinstance(session, InProcessSession) else f"eval-{item_id}-{uuid.uuid4().hex[:8]}"
