"""Dependencies shared by the routers: the services built in the lifespan and who the caller is.

The admin key is checked here and only here, so writes and the admin-only chat answers cannot drift apart.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from chat import ChatService
from settings import Settings
from tools.catalog import CatalogService

Role = Literal["admin", "customer"]


def get_service(request: Request) -> CatalogService:
    """The catalogue service built in the lifespan."""
    service: CatalogService = request.app.state.catalog
    return service


CatalogDep = Annotated[CatalogService, Depends(get_service)]


async def get_session(service: CatalogDep) -> AsyncIterator[AsyncSession]:
    """A read session per request."""
    async with service.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_chat(request: Request) -> ChatService:
    """The chat service built in the lifespan."""
    chat: ChatService = request.app.state.chat
    return chat


ChatDep = Annotated[ChatService, Depends(get_chat)]


def admin_key(request: Request) -> str:
    """ADMIN_API_KEY, or "" when the owner has not set one (then nobody is admin)."""
    settings: Settings = request.app.state.settings
    return settings.admin_api_key.get_secret_value() if settings.admin_api_key else ""


def is_admin_key(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much of a guess was right."""
    return bool(expected) and given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_admin(request: Request, x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> None:
    """Writes need X-API-Key equal to ADMIN_API_KEY; without a configured key they are off (503), not open."""
    expected = admin_key(request)
    if not expected:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Las escrituras están desactivadas: el administrador debe configurar ADMIN_API_KEY.",
        )
    if not is_admin_key(x_api_key, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Falta la cabecera X-API-Key o no es válida.",
            headers={"WWW-Authenticate": "X-API-Key"},
        )


AdminDep = Annotated[None, Depends(require_admin)]


def role_of(request: Request) -> Role:
    """Admin when the request carries the valid X-API-Key (unlocks the low-stock report); customer otherwise.

    A plain function too, because LangServe's per-request config hook calls it outside FastAPI's injection.
    """
    return "admin" if is_admin_key(request.headers.get("x-api-key"), admin_key(request)) else "customer"


RoleDep = Annotated[Role, Depends(role_of)]
