"""Run the Alembic migrations programmatically, on the app's own async engine."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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

    async with _one_at_a_time(), engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await _sqlite_foreign_keys(connection, enabled=False)
        try:
            async with connection.begin():
                await connection.run_sync(on_connection)
                if sqlite:
                    await _check_foreign_keys(connection)
        finally:
            if sqlite:
                await _sqlite_foreign_keys(connection, enabled=True)


# SQLite changes a table by copying it into a new one and dropping the old (Alembic's batch mode). With foreign
# keys enforced, dropping `orders` while `order_line` rows point at it fails, so migrations run with enforcement
# off — a pragma SQLite only honours outside a transaction, hence on the raw connection before BEGIN — and every
# reference is checked before the migration commits.


async def _sqlite_foreign_keys(connection: AsyncConnection, *, enabled: bool) -> None:
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


async def _check_foreign_keys(connection: AsyncConnection) -> None:
    broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
    if broken:
        raise RuntimeError(f"migration left {len(broken)} broken foreign key reference(s), first: {broken[0]}")
