"""Run the Alembic migrations programmatically, on the app's own async engine."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from settings import ROOT


def alembic_config() -> Config:
    """The repo's alembic.ini, wherever the process was started from."""
    return Config(str(ROOT / "alembic.ini"))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision`; idempotent, safe to run at every start."""
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    """Undo migrations down to `revision` (tests prove every migration can be reversed)."""
    await _run(engine, command.downgrade, revision)


# Alembic keeps its migration context in a process-global proxy: two migrations interleaving on one event loop
# (two catalogues set up at once) corrupt each other's options (KeyError: 'script'). One at a time per loop.
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _one_at_a_time() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


async def _run(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    def on_connection(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    async with _one_at_a_time(), engine.begin() as connection:
        await connection.run_sync(on_connection)
