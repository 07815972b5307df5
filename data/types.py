"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime, Integer, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")


def to_money(value: Decimal | int | float | str) -> Decimal:
    """Round to the cent the way a till does (half up), never by binary float rounding."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def sale_regular_price(price: Decimal, regular: Decimal | None) -> Decimal | None:
    """The "before" price only while it is above the price: otherwise there is no sale.

    Used on every write, so a later price cut can never turn a stale "before" price into a fake sale.
    """
    return regular if regular is not None and regular > price else None


def parse_money(raw: Any) -> Decimal:
    """Read an amount the way people write it: 24.00, 24,00, 1.299,00, 1,299.00, "24 €", "€24"."""
    if isinstance(raw, bool):
        raise ValueError("no es un precio")
    if isinstance(raw, int | float | Decimal):
        return Decimal(str(raw))
    text = str(raw).strip().replace("€", "").replace("EUR", "").replace("eur", "").replace("\u00a0", "")
    text = text.replace(" ", "")
    if not text:
        raise ValueError("falta el precio")
    negative = text.startswith("-")
    text = text.lstrip("+-")
    if not re.fullmatch(r"[0-9.,]+", text):
        raise ValueError(f"«{raw}» no es un precio válido")
    if "," in text and "." in text:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        text = text.replace(thousands, "").replace(decimal_sep, ".")
    elif "," in text:
        head, _, tail = text.rpartition(",")
        grouped = len(tail) == 3 and bool(head) and not head.startswith("0")  # "0,500" is half a euro
        text = text.replace(",", "") if grouped else text.replace(",", ".")
    elif text.count(".") > 1 or re.fullmatch(r"[1-9]\d{0,2}\.\d{3}", text):
        text = text.replace(".", "")  # 1.299 (Spanish thousands); a price never has three decimals
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"«{raw}» no es un precio válido") from exc
    return -value if negative else value


def format_euros(amount: Decimal | str) -> str:
    """1299 -> "1.299,00 €" (Spanish grouping and decimal comma, always two decimals)."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    sign = "-" if value < 0 else ""
    whole, cents = f"{abs(value):.2f}".split(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return f"{sign}{'.'.join(groups)},{cents} €"


def utcnow() -> datetime:
    """Timezone-aware now, so timestamps compare correctly across databases."""
    return datetime.now(UTC)


class Money(TypeDecorator[Decimal]):
    """Decimal(10,2) everywhere: NUMERIC on PostgreSQL, integer cents on SQLite (which has no decimal type)."""

    impl = Numeric(10, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(Numeric(10, 2, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        return int(amount * 100) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(CENT)
        return to_money(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes; SQLite hands back naive ones, which are UTC by construction."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value
