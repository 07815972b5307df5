"""/admin/pedidos: the owner's orders — list (JSON or CSV), one order with its lines and history, move it on.

Every route needs the X-API-Key header (api/deps.require_admin, like the product writes): 401 without a valid
key, 503 when the shop has not set ADMIN_API_KEY. The lifecycle rules live in data/order_status.py; this module
only translates HTTP to them: an unknown order is 404, a move the lifecycle does not allow is 409 with the reason
in Spanish, a bad body or filter is 422. A refused request changes nothing.

Dates in `desde`/`hasta` are `AAAA-MM-DD` (a whole day, in UTC: `hasta=2026-12-08` includes that day) or an ISO
8601 date and time. The CSV export has one row per order, comma-separated UTF-8, amounts with a decimal point.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import CatalogDep, SessionDep, require_admin
from data import order_status
from data.db import write_session
from data.models import ORDER_STATUSES, OrderBase, OrderEventPublic, OrderLinePublic, OrderPublic
from data.order_status import MAX_NOTE, MAX_PAGE, OrderError, OrderRecord, OrderSummary

DEFAULT_PAGE = 50
log = logging.getLogger("agente.orders")

router = APIRouter(prefix="/admin/pedidos", tags=["pedidos (tienda)"], dependencies=[Depends(require_admin)])

OrderId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Número de pedido")]

# --------------------------------------------------------------------------- shapes


class AdminOrder(OrderPublic):
    """An order as the owner sees it: details, lines, history, and where it may go next."""

    next_statuses: list[str] = Field(default_factory=list)


class AdminOrderRow(OrderBase):
    """A row of the order list: the order without its lines, and how much it holds."""

    id: int
    created_at: datetime
    updated_at: datetime
    units: int
    line_count: int


class AdminOrderPage(BaseModel):
    """One page of orders, newest first; `total` counts all that match the filters."""

    items: list[AdminOrderRow]
    total: int
    limit: int
    offset: int


class StatusChange(BaseModel):
    """Move an order on: `estado` is where to; `estado_actual`, if sent, must be where it is now."""

    model_config = ConfigDict(extra="forbid")

    estado: str = Field(min_length=1, max_length=16)
    nota: str = Field(default="", max_length=MAX_NOTE)
    estado_actual: str | None = Field(default=None, max_length=16)

    @field_validator("estado", "estado_actual")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in ORDER_STATUSES:
            raise ValueError(f"el estado debe ser uno de: {', '.join(ORDER_STATUSES)}")
        return value.strip().lower() if value is not None else None


def _admin_order(record: OrderRecord) -> AdminOrder:
    order = record.order
    return AdminOrder.model_validate(
        {
            **order.model_dump(),
            "lines": [OrderLinePublic.model_validate(line.model_dump()) for line in record.lines],
            "events": [OrderEventPublic.model_validate(event.model_dump()) for event in record.events],
            "next_statuses": order_status.next_statuses(order.status),
        }
    )


def _row(summary: OrderSummary) -> AdminOrderRow:
    return AdminOrderRow.model_validate(
        {**summary.order.model_dump(), "units": summary.units, "line_count": summary.line_count}
    )


# --------------------------------------------------------------------------- filters


def _moment(name: str, raw: str | None, *, end: bool) -> datetime | None:
    """A filter bound: a whole day (`hasta` includes it) or an exact ISO time; naive times are UTC."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HTTPException(
            422, f"{name}: la fecha no es válida; escribe AAAA-MM-DD (2026-12-08) o fecha y hora ISO 8601."
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _wants_csv(formato: str | None, accept: str | None) -> bool:
    if formato is not None:
        return formato == "csv"
    return "text/csv" in (accept or "").lower()


# --------------------------------------------------------------------------- routes


@router.get("", response_model=AdminOrderPage, responses={200: {"content": {"text/csv": {}}}})
async def list_orders(
    session: SessionDep,
    estado: Annotated[str | None, Query(max_length=16, description="pendiente, confirmado, enviado…")] = None,
    desde: Annotated[str | None, Query(max_length=40, description="AAAA-MM-DD o fecha y hora ISO")] = None,
    hasta: Annotated[str | None, Query(max_length=40, description="AAAA-MM-DD (incluido) o fecha y hora ISO")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE, description="por página (50; CSV: 500)")] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    formato: Annotated[Literal["json", "csv"] | None, Query(description="csv: una fila por pedido")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """The shop's orders, newest first, by status and date; JSON, or CSV with `formato=csv` / `Accept: text/csv`."""
    as_csv = _wants_csv(formato, accept)
    state = estado.strip().lower() if estado and estado.strip() else None
    try:
        page = await order_status.list_orders(
            session,
            estado=state,
            desde=_moment("desde", desde, end=False),
            hasta=_moment("hasta", hasta, end=True),
            limit=limit or (MAX_PAGE if as_csv else DEFAULT_PAGE),
            offset=offset,
        )
    except OrderError as exc:
        raise HTTPException(422, str(exc)) from exc
    if as_csv:
        return Response(
            content=_csv(page.items).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="pedidos.csv"', "X-Total-Count": str(page.total)},
        )
    return AdminOrderPage(items=[_row(s) for s in page.items], total=page.total, limit=page.limit, offset=page.offset)


@router.get("/{order_id}", response_model=AdminOrder)
async def get_order(order_id: OrderId, session: SessionDep) -> AdminOrder:
    """One order: the customer's details, the lines as sold, the history and the statuses it may go to."""
    record = await order_status.get_order(session, order_id)
    if record is None:
        raise HTTPException(404, f"No existe el pedido {order_id}.")
    return _admin_order(record)


@router.patch("/{order_id}", response_model=AdminOrder)
async def change_status(order_id: OrderId, change: StatusChange, service: CatalogDep, request: Request) -> AdminOrder:
    """Move the order on (`{"estado": "enviado", "nota": "Seur 123"}`); cancelling puts its units back in stock.

    The customer is told: each notifier in `app.state.order_notifiers` (the Telegram channel registers one at
    startup) gets the event; on the web the change is shown at the customer's next turn (chat.ChatService).
    """
    try:
        async with write_session(service.sessions) as session:
            event = await order_status.transition(
                session,
                order_id,
                change.estado,
                order_status.SHOP,
                change.nota,
                expected_from=change.estado_actual,
            )
    except order_status.OrderNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except OrderError as exc:
        raise HTTPException(409, str(exc)) from exc
    if change.estado == order_status.CANCELLED:
        await service.ensure_fresh()  # stock came back: searches and answers must see it
    for notify in getattr(request.app.state, "order_notifiers", []):
        try:
            await notify(event.id or 0)
        except Exception:  # the status changed; a notice that fails is told at the customer's next turn
            log.exception("a status notice of order %d failed", order_id)
    async with service.sessions() as session:
        record = await order_status.get_order(session, order_id)
    if record is None:  # pragma: no cover - orders are never deleted
        raise HTTPException(404, f"No existe el pedido {order_id}.")
    return _admin_order(record)


# --------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    ("pedido", "id"),
    ("fecha", "created_at"),
    ("estado", "status"),
    ("actualizado", "updated_at"),
    ("cliente", "customer_name"),
    ("email", "customer_email"),
    ("telefono", "customer_phone"),
    ("entrega", "delivery_method"),
    ("direccion", "address_line"),
    ("codigo_postal", "postal_code"),
    ("localidad", "city"),
    ("provincia", "province"),
    ("pais", "country"),
    ("punto_recogida", "pickup_point"),
    ("pago", "payment_method"),
    ("canal", "channel"),
    ("subtotal", "subtotal"),
    ("envio", "shipping_cost"),
    ("total", "total"),
    ("moneda", "currency"),
)


def _cell(value: Any) -> str:
    """One CSV cell; text a spreadsheet would run as a formula ("=…", "@…") is prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    text = str(value)
    risky = text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not text[1:].replace(" ", "").isdigit())
    return f"'{text}" if risky else text


def _csv(items: list[OrderSummary]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([name for name, _ in CSV_COLUMNS] + ["unidades", "lineas"])
    for summary in items:
        order = summary.order
        writer.writerow([_cell(getattr(order, attr)) for _, attr in CSV_COLUMNS] + [summary.units, summary.line_count])
    return buffer.getvalue()
