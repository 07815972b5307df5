"""GET /health: what a load balancer or the owner checks before trusting the answers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import text as sql_text

from api.deps import CatalogDep

log = logging.getLogger("agente.server")

router = APIRouter(tags=["salud"])


class Health(BaseModel):
    """What /health reports: overall status (ok, degraded, error), database, index and semantic cache."""

    status: str
    database: str
    index: dict[str, Any]
    cache: dict[str, Any] | None = None


@router.get("/health", response_model=Health)
async def health(service: CatalogDep, request: Request, response: Response) -> Health:
    """503 only when the database is down; a missing Redis degrades the cache, it does not stop sales."""
    database = "ok"
    try:
        async with service.sessions() as session:
            await session.execute(sql_text("SELECT 1"))
    except Exception:  # the point of a health check is to report, not to raise
        log.exception("health: database unreachable")
        database = "error"
    index = {
        "products": len(service.index.items),
        "vectors": len(service.store),
        "revision": service.index.revision,
        "embedder": service.embedder.id,
    }
    cache: dict[str, Any] | None = None
    chat = getattr(request.app.state, "chat", None)
    if chat is not None:
        await chat.context.cache.check()
        cache = chat.context.cache.describe()
    healthy = database == "ok"
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    # Redis away is not an outage: the in-process cache answers, so the service is degraded, not down.
    overall = "error" if not healthy else "degraded" if cache and cache["status"] != "ok" else "ok"
    return Health(status=overall, database=database, index=index, cache=cache)
