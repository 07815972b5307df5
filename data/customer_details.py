"""What an order needs to be fulfilled — who, where, how — and the checks each detail passes, in Spanish.

The validators are pure functions for the checkout conversation: each takes what the customer typed and returns
the value as it is stored (trimmed, normalised), or raises `InvalidDetailError`, whose message can be sent to
the customer as it is ("El código postal debe tener 5 cifras, por ejemplo 28013.") and whose `field` says which
detail to ask for again.

`OrderDetails` gathers them for `data.orders.place_order(details=...)`; it validates on construction, so an
invalid set of details never reaches the database. Spanish province names come from `data/lexicon/provinces.json`
(the two first digits of a postal code are the province's INE code, 01-52).

These values are personal data: nothing here logs them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from data.models import DELIVERY_METHODS, MAX_PRICE, ORDER_CHANNELS
from data.types import to_money
from settings import ROOT

PROVINCES_FILE = ROOT / "data" / "lexicon" / "provinces.json"

MAX_NAME = 120
MAX_EMAIL = 254
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 9, 15  # a Spanish number has 9; E.164 allows up to 15 with the prefix
MAX_ADDRESS, MAX_CITY, MAX_PICKUP, MAX_PAYMENT = 200, 80, 120, 32

_EMAIL = re.compile(r"[^@\s]+@(?P<domain>[^@\s]+)")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")
_LETTER = re.compile(r"[^\W\d_]")


class InvalidDetailError(ValueError):
    """A customer detail that cannot be used; the message is for the customer (Spanish), `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class PostalCode:
    """A checked Spanish postal code and the province it belongs to."""

    code: str
    province: str


@cache
def provinces() -> dict[str, str]:
    """INE province code ("28") → province name ("Madrid"), from data/lexicon/provinces.json."""
    data = json.loads(PROVINCES_FILE.read_text(encoding="utf-8"))
    prefixes = data["prefixes"]
    if not isinstance(prefixes, dict):
        raise ValueError(f"{PROVINCES_FILE}: 'prefixes' must be an object")
    return {str(code): str(name) for code, name in prefixes.items()}


def _single_line(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def validate_postal_code(raw: Any) -> PostalCode:
    """A Spanish postal code: five digits whose first two are a province (01-52). Spaces are ignored."""
    code = "".join(_single_line(raw).split())
    if not code:
        raise InvalidDetailError("postal_code", "Falta el código postal.")
    if not re.fullmatch(r"\d{5}", code):
        raise InvalidDetailError("postal_code", "El código postal debe tener 5 cifras, por ejemplo 28013.")
    province = provinces().get(code[:2])
    if province is None:
        raise InvalidDetailError(
            "postal_code", f"El código postal {code} no es de España: las dos primeras cifras van de 01 a 52."
        )
    return PostalCode(code=code, province=province)


def province_of(postal_code: Any) -> str:
    """The province a Spanish postal code belongs to ("08001" → "Barcelona"); raises like the validator."""
    return validate_postal_code(postal_code).province


def validate_email(raw: Any) -> str:
    """An e-mail address with a user, an @ and a domain with a dot ("ana@correo.es"); the domain in lower case."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise InvalidDetailError("email", "Falta el correo electrónico.")
    example = "por ejemplo nombre@correo.es"
    match = _EMAIL.fullmatch(text)
    if match is None or len(text) > MAX_EMAIL:
        raise InvalidDetailError("email", f"Ese correo electrónico no es válido; escríbelo completo, {example}.")
    domain = match.group("domain").lower()
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels) or len(labels[-1]) < 2:
        raise InvalidDetailError(
            "email", f"Al correo electrónico le falta el dominio completo (la parte tras la @), {example}."
        )
    return f"{text[: match.start('domain')]}{domain}"


def validate_phone(raw: Any) -> str:
    """A phone number: digits, spaces and a leading + (hyphens, dots and brackets as separators), 9-15 digits.

    Returned without separators: "+34 612 34 56 78" → "+34612345678".
    """
    text = _single_line(raw)
    if not text:
        raise InvalidDetailError("phone", "Falta el teléfono.")
    if _LETTER.search(text):
        raise InvalidDetailError("phone", "El teléfono solo puede llevar números, espacios y el prefijo con +.")
    compact = _PHONE_SEPARATORS.sub("", text)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isdigit() or not digits.isascii():
        raise InvalidDetailError("phone", "El teléfono solo puede llevar números, espacios y el prefijo con +.")
    if len(digits) < MIN_PHONE_DIGITS:
        raise InvalidDetailError("phone", f"Al teléfono le faltan cifras: tiene que tener al menos {MIN_PHONE_DIGITS}.")
    if len(digits) > MAX_PHONE_DIGITS:
        raise InvalidDetailError("phone", f"El teléfono tiene demasiadas cifras (como mucho {MAX_PHONE_DIGITS}).")
    return f"+{digits}" if plus else digits


def validate_name(raw: Any) -> str:
    """A person's name: not empty, at most 120 characters, with at least one letter; spaces tidied."""
    name = _single_line(raw)
    if not name:
        raise InvalidDetailError("name", "Falta el nombre.")
    if len(name) > MAX_NAME:
        raise InvalidDetailError("name", f"El nombre es demasiado largo (como mucho {MAX_NAME} caracteres).")
    if not _LETTER.search(name):
        raise InvalidDetailError("name", "El nombre tiene que llevar letras.")
    return name


def _text(field: str, raw: Any, limit: int, label: str) -> str | None:
    value = _single_line(raw)
    if len(value) > limit:
        raise InvalidDetailError(field, f"{label} es demasiado largo (como mucho {limit} caracteres).")
    return value or None


def validate_shipping_cost(raw: Any) -> Decimal:
    """Shipping cost in euros: a number from 0, with at most two decimals."""
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidDetailError("shipping_cost", "El coste del envío debe ser un importe en euros.") from exc
    if not value.is_finite() or value < 0 or value > MAX_PRICE:
        raise InvalidDetailError("shipping_cost", "El coste del envío debe ser un importe de 0 € en adelante.")
    if value != value.quantize(Decimal("0.01")):
        raise InvalidDetailError("shipping_cost", "El coste del envío admite como máximo dos decimales.")
    return to_money(value)


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """Who ordered, how it reaches them and how they pay: stored on the order by `place_order(details=...)`.

    Every field is optional except the delivery method, so an order can be placed with what is known; what is
    given is checked and normalised on construction (`InvalidDetailError` otherwise). Delivery "envio" needs
    address_line, postal_code and city; in Spain (country "ES") the postal code must be Spanish and the province
    is taken from it when not given. "recogida" is collected at `pickup_point` (the shop when empty).
    `shipping_cost` is added to the lines: the order's total is subtotal + shipping_cost.
    """

    delivery_method: str = "envio"
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address_line: str | None = None
    postal_code: str | None = None
    city: str | None = None
    province: str | None = None
    country: str = "ES"
    pickup_point: str | None = None
    shipping_cost: Decimal = Decimal("0.00")
    payment_method: str | None = None
    channel: str = "http"
    telegram_chat_id: int | None = None

    def __post_init__(self) -> None:
        for name, value in self._checked().items():
            object.__setattr__(self, name, value)

    def _checked(self) -> dict[str, Any]:
        if self.delivery_method not in DELIVERY_METHODS:
            raise InvalidDetailError("delivery_method", "La entrega tiene que ser «envio» o «recogida».")
        if self.channel not in ORDER_CHANNELS:
            raise InvalidDetailError("channel", f"Canal desconocido; los canales son: {', '.join(ORDER_CHANNELS)}.")
        country = _single_line(self.country).upper() or "ES"
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise InvalidDetailError("country", "El país se indica con su código de dos letras, por ejemplo ES.")
        values: dict[str, Any] = {
            "country": country,
            "name": validate_name(self.name) if self.name is not None else None,
            "email": validate_email(self.email) if self.email is not None else None,
            "phone": validate_phone(self.phone) if self.phone is not None else None,
            "address_line": _text("address_line", self.address_line, MAX_ADDRESS, "La dirección"),
            "city": _text("city", self.city, MAX_CITY, "El nombre de la localidad"),
            "province": _text("province", self.province, MAX_CITY, "El nombre de la provincia"),
            "pickup_point": _text("pickup_point", self.pickup_point, MAX_PICKUP, "El punto de recogida"),
            "payment_method": _text("payment_method", self.payment_method, MAX_PAYMENT, "La forma de pago"),
            "shipping_cost": validate_shipping_cost(self.shipping_cost),
            "postal_code": _text("postal_code", self.postal_code, 10, "El código postal"),
        }
        if values["postal_code"] and country == "ES":
            checked = validate_postal_code(values["postal_code"])
            values["postal_code"] = checked.code
            values["province"] = values["province"] or checked.province
        if self.delivery_method == "envio":
            _require_address(values)
        if self.telegram_chat_id is not None and not isinstance(self.telegram_chat_id, int):
            raise InvalidDetailError("telegram_chat_id", "El chat de Telegram debe ser un número.")
        return values

    def as_order_fields(self) -> dict[str, Any]:
        """The Order columns these details fill (customer_name, customer_email, …)."""
        renamed = {"name": "customer_name", "email": "customer_email", "phone": "customer_phone"}
        return {renamed.get(f.name, f.name): getattr(self, f.name) for f in fields(self)}

    def with_changes(self, **changes: Any) -> OrderDetails:
        """A copy with some details changed (checked again)."""
        return replace(self, **changes)


_ADDRESS_PARTS = (("address_line", "la dirección"), ("postal_code", "el código postal"), ("city", "la localidad"))


def _require_address(values: dict[str, Any]) -> None:
    missing = [(key, label) for key, label in _ADDRESS_PARTS if not values[key]]
    if missing:
        labels = [label for _, label in missing]
        listed = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} y {labels[-1]}"
        verb = "falta" if len(labels) == 1 else "faltan"
        raise InvalidDetailError(missing[0][0], f"Para enviar el pedido {verb} {listed}.")
