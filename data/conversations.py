"""Conversations and their messages as rows: the record the shop can read back and keep.

The checkpointer holds the agent's working memory; these tables hold what was said.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from data.models import Conversation, Message
from data.types import utcnow


async def record_turn(
    session: AsyncSession,
    *,
    thread_id: str,
    channel: str,
    user_text: str,
    reply: str,
    route: str | None,
) -> Conversation:
    """Store one exchange (the customer's message and the answer) under its conversation, creating it if new."""
    conversation = (
        await session.execute(select(Conversation).where(col(Conversation.thread_id) == thread_id))
    ).scalar_one_or_none()
    now = utcnow()
    if conversation is None:
        conversation = Conversation(thread_id=thread_id, channel=channel, created_at=now, updated_at=now)
        session.add(conversation)
        await session.flush()
    else:
        conversation.updated_at = now
        session.add(conversation)
    session.add_all(
        [
            Message(conversation_id=conversation.id or 0, role="user", content=user_text, route=route, created_at=now),
            Message(conversation_id=conversation.id or 0, role="assistant", content=reply, route=route, created_at=now),
        ]
    )
    await session.flush()
    return conversation


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
