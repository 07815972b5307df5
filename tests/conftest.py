"""Shared fixtures: real SQLite files in tmp dirs, the real PostgreSQL, the real local embedder, a real server."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from data import crud, orders
from data.db import create_engine, session_factory, write_session
from data.migrate import upgrade
from data.models import ProductCreate
from data.policies import SAMPLE_POLICIES
from data.policies import install as install_policies
from settings import ROOT, Settings
from tools.catalog import CatalogService
from vectorstore.embeddings import Embedder, build_embedder

SHARED = ROOT.parent / "shared" / "datasets"
SAMPLE = ROOT / "data" / "catalogue" / "sample_products.json"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def make_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings that ignore the developer's .env and keep all state under `tmp`."""
    values: dict[str, object] = {
        "var_dir": tmp / "var",
        "embeddings_provider": "use",
        "admin_api_key": "clave-test",
        "cache_backend": "memory",  # tests/integration/test_redis_cache.py uses the real Redis Stack on purpose
    }
    values.update(overrides)
    return Settings.isolated(**values)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return build_embedder(Settings.isolated(embeddings_provider="use"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def sample_var(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A var/ folder with the sample catalogue migrated, imported and indexed, built once per test run."""
    from data import crud
    from data.db import write_session
    from data.importer import plan_import
    from data.migrate import upgrade
    from tools.catalog import CatalogService

    tmp = tmp_path_factory.mktemp("sample")

    async def build() -> None:
        svc = CatalogService(make_settings(tmp), embedder=embedder)
        await upgrade(svc.engine)
        async with write_session(svc.sessions) as session:
            await crud.upsert_products(session, products_in=plan_import(SAMPLE).products)
        await svc.load()
        await svc.close()

    asyncio.run(build())
    install_policies(SAMPLE_POLICIES, tmp / "var" / "policies.md")  # what `python -m manage setup` installs
    return tmp / "var"


@pytest.fixture
async def service(tmp_path: Path, sample_var: Path, embedder: Embedder) -> AsyncIterator[CatalogService]:
    """A catalogue service on its own copy of the sample database and index (loads in well under a second)."""
    from tools.catalog import CatalogService

    shutil.copytree(sample_var, tmp_path / "var")
    svc = CatalogService(make_settings(tmp_path), embedder=embedder)
    await svc.load()
    yield svc
    await svc.close()


def _pg(statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql(statement)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throw-away database on the machine's PostgreSQL (127.0.0.1:5432, trust auth), dropped afterwards."""
    name = f"agente_test_{uuid.uuid4().hex[:10]}"
    try:
        _pg(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # the environment, not the code: say so plainly
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for this test: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both supported databases, for tests that must behave the same on each."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a migrated database of each kind (`db_url`)."""
    engine = create_engine(db_url)
    await upgrade(engine)
    yield session_factory(engine)
    await engine.dispose()


async def new_product(
    sessions: async_sessionmaker[AsyncSession], sku: str, price: str = "10.00", stock: int = 10
) -> int:
    """A product made through the CRUD layer ("Producto SKU", Hogar); returns its id."""
    async with write_session(sessions) as session:
        product = await crud.create_product(
            session,
            product_in=ProductCreate.model_validate(
                {"sku": sku, "name": f"Producto {sku}", "category": "Hogar", "price": price, "stock": stock}
            ),
        )
        return product.id or 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes], env: dict[str, str], log: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.env = env
        self.log = log
        self.admin_key = env["ADMIN_API_KEY"]


def start_server(tmp: Path, **env_overrides: str) -> LiveServer:
    """`python -m server` in a subprocess on a free port, with its own var dir; waits for /health."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "GOOGLE_", "EMBEDDINGS_"))},
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "VAR_DIR": str(tmp / "var"),
        "DATABASE_URL": "",  # set (empty) so a developer's .env cannot point tests at a real database
        "INDEX_DIR": "",
        "ADMIN_API_KEY": "clave-http-test",
        "EMBEDDINGS_PROVIDER": "use",
        "GOOGLE_API_KEY": "",
        "LOG_LEVEL": "WARNING",
        "CACHE_BACKEND": "memory",  # a test that wants Redis says so (tests/integration/test_redis_cache.py)
        **env_overrides,
    }
    log = tmp / "server.log"
    with log.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "server"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return LiveServer(base, process, env, log)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not become healthy:\n{log.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server over HTTP with the sample catalogue seeded by the real CLI (`python -m manage setup`)."""
    tmp = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "VAR_DIR": str(tmp / "var"),
        "DATABASE_URL": "",
        "INDEX_DIR": "",
        "EMBEDDINGS_PROVIDER": "use",
        "GOOGLE_API_KEY": "",
    }
    subprocess.run([sys.executable, "-m", "manage", "setup"], cwd=ROOT, env=env, check=True, capture_output=True)
    server = start_server(tmp)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client of the module's real server."""
    with httpx.Client(base_url=live_server.base_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> dict[str, str]:
    """The owner's header for the module's real server."""
    return {"X-API-Key": live_server.admin_key}


@pytest.fixture
async def chat(service: CatalogService, tmp_path: Path) -> AsyncIterator[Any]:
    """The agent in-process (memory checkpointer, no LLM) on its own copy of the sample catalogue."""
    from chat import ChatService
    from data.migrate import upgrade

    await upgrade(service.engine)  # cart and order tables
    settings = make_settings(tmp_path, checkpointer="memory")
    chat_service = ChatService(settings, service)
    await chat_service.start()
    yield chat_service
    await chat_service.close()


# --------------------------------------------------------------------------- Redis Stack (scripts/redis-stack.sh)

REDIS_SCRIPT = ROOT / "scripts" / "redis-stack.sh"


def redis_stack(command: str, port: int) -> subprocess.CompletedProcess[str]:
    """Run the project's Redis Stack script for a test port (never the app's 6380, never the machine's 6379)."""
    env = {**os.environ, "REDIS_PORT": str(port)}
    return subprocess.run(
        ["bash", str(REDIS_SCRIPT), command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def start_redis_stack(port: int) -> str:
    done = redis_stack("start", port)
    if done.returncode != 0:
        pytest.fail(f"scripts/redis-stack.sh start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis Stack (RediSearch + RedisJSON) started by the project's script for this test session."""
    port = int(os.environ.get("TEST_REDIS_PORT", "6391"))
    url = start_redis_stack(port)
    yield url
    redis_stack("stop", port)


async def cart_of(chat: Any, thread_id: str) -> dict[str, int]:
    """A conversation's cart as {sku: units}, read from the database the chat writes to."""
    async with chat.catalog.sessions() as session:
        return {i.sku: i.quantity for i in (await orders.get_cart(session, thread_id=thread_id)).items}


# --------------------------------------------------------------------------- checkout details (agent.checkout)

# What a customer answers to each detail question of the checkout, by the detail asked (agent.checkout.missing).
CUSTOMER_DETAILS = {
    "name": "Ana García",
    "contact": "ana@correo.es",
    "address": "Calle Mayor 5, 3ºB, 28013 Madrid",
    "postal_code": "28013",
    "city": "Madrid",
    "pickup": "Tienda de Madrid",
    "reuse": "sí",  # "¿Uso los datos de tu último pedido?"
}
# How each detail question begins in the reply (agent.checkout.QUESTIONS and question()).
DETAIL_QUESTIONS = {
    "name": "¿A nombre de quién hago el pedido?",
    "contact": "¿Me dejas un teléfono o un correo electrónico",
    "delivery": "¿Te lo enviamos a casa",
    "address": "¿A qué dirección lo enviamos?",
    "postal_code": "¿Cuál es el código postal",
    "city": "¿Y la localidad?",
    "pickup": "¿En qué punto lo recoges?",
    "reuse": "¿Uso los datos de tu último pedido?",
}
CONFIRMATION = "¿Confirmo el pedido?"


def detail_asked(reply: str) -> str | None:
    """The checkout detail a reply asks for ("name", "contact", "delivery", ...), or None."""
    return next((field for field, words in DETAIL_QUESTIONS.items() if words in reply), None)


def detail_answer(asking: str, *, pickup: bool = True) -> str:
    """What the customer says to the question for one detail: pickup at the Madrid shop (free) or delivery home."""
    if asking == "delivery":
        return "recogida en Tienda de Madrid" if pickup else "envío a casa"
    return CUSTOMER_DETAILS[asking]


async def give_details(chat: Any, thread_id: str, *, pickup: bool = True, channel: str = "http") -> Any:
    """Answer the checkout's detail questions in the conversation, as a customer would, until the confirmation.

    What is asked is read from the conversation's graph state (`order_details["asking"]`), which the reply asked
    for too; each answer is an ordinary turn. Returns the TurnResult of the confirmation ("¿Confirmo el pedido?").
    Fails if no detail is being asked, if a question repeats (the answer was refused), or if it never gets there.
    """
    asked: list[str] = []
    for _ in range(len(DETAIL_QUESTIONS) + 1):
        snapshot = await chat.graph.aget_state(chat.config(thread_id, channel=channel))
        details = (snapshot.values or {}).get("order_details") or {}
        asking = details.get("asking") if details.get("collecting") else None
        if asking is None or snapshot.interrupts:
            pytest.fail(f"no checkout detail is being asked in {thread_id} (asked so far: {asked})")
        if asking in asked:
            pytest.fail(f"the checkout asked for {asking!r} again after {detail_answer(asking, pickup=pickup)!r}")
        asked.append(asking)
        result = await chat.turn(detail_answer(asking, pickup=pickup), thread_id=thread_id, channel=channel)
        if result.awaiting_confirmation:
            assert CONFIRMATION in result.reply, result.reply
            return result
    pytest.fail(f"the checkout never reached the confirmation in {thread_id} (asked: {asked})")
