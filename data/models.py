"""SQLModel tables and their API shapes (Base / Create / Update / table / Public), one family per entity."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, field_validator, model_validator
from sqlalchemy import JSON, BigInteger, CheckConstraint, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from data.types import Money, UTCDateTime, parse_money, sale_regular_price, to_money, utcnow

MAX_PRICE = Decimal("99999999.99")  # what NUMERIC(10,2) holds


def _check_price(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("el precio debe ser un número")
    if value > MAX_PRICE:
        raise ValueError(f"el precio no puede pasar de {MAX_PRICE} €")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("el precio admite como máximo dos decimales")
    return to_money(value)


_AMBIGUOUS = re.compile(r"\s*\d{1,3}\.\d{3}\s*")  # "12.345": 12.345,00 € or three decimals? Refused, not guessed


def _money_text(value: Any) -> Any:
    """Prices as text the way the importer reads them ("1.199,00", "24 €"); numbers pass through.

    Through the API a lone "12.345" is refused (three decimals) rather than read as 12.345,00 €: a client that
    meant a decimal point must never be charged a thousand times more.
    """
    if isinstance(value, str) and not _AMBIGUOUS.fullmatch(value):
        try:
            return parse_money(value)
        except ValueError:
            return value  # left for the field's own validation, which words the error
    return value


def _clean_text(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


# --------------------------------------------------------------------------- products


class ProductBase(SQLModel):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=5000)
    category: str = Field(min_length=1, max_length=80)
    subcategory: str = Field(default="", max_length=80)
    brand: str = Field(default="", max_length=80)
    price: Decimal = Field(ge=0, sa_type=Money)
    # The price before a sale ("antes 12,95 €"), set only while the product is on sale: price < regular_price.
    regular_price: Decimal | None = Field(default=None, ge=0, sa_type=Money, nullable=True)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    stock: int = Field(default=0, ge=0, le=10_000_000)
    active: bool = True
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # Every category path the product is in ("Cabello > Champú", "Ofertas"); category/subcategory are the first.
    categories: list[str] = Field(default_factory=list, sa_type=JSON)

    @field_validator("sku", "name", "category", "subcategory", "brand", mode="before")
    @classmethod
    def _single_line(cls, value: Any) -> Any:
        return _clean_text(value)

    @field_validator("price", "regular_price", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        return _money_text(value)

    @model_validator(mode="after")
    def _on_sale_only_when_cheaper(self) -> ProductBase:
        if self.regular_price is not None and sale_regular_price(self.price, self.regular_price) is None:
            self.regular_price = None  # a compare-at price at or under the price is no sale
        return self

    @field_validator("sku")
    @classmethod
    def _sku_upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("price", mode="after")
    @classmethod
    def _two_decimals(cls, value: Decimal) -> Decimal:
        return _check_price(value)

    @field_validator("regular_price", mode="after")
    @classmethod
    def _two_decimals_or_none(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else _check_price(value)

    @field_validator("currency")
    @classmethod
    def _eur(cls, value: str) -> str:
        if value.upper() != "EUR":
            raise ValueError("la única moneda admitida es EUR")
        return "EUR"


class ProductCreate(ProductBase):
    """What a new product needs; unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    # For the owner only (cost, supplier, internal notes, the original HTML description): never shown publicly.
    private: dict[str, Any] = Field(default_factory=dict)
    demo: bool = False  # loaded by `make run` as an example; retired by the first import of a real catalogue


class ProductUpdate(SQLModel):
    """Every field optional: PATCH changes only what it names. An explicit null is refused, not stored."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    sku: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=5000)
    category: str | None = Field(default=None, min_length=1, max_length=80)
    subcategory: str | None = Field(default=None, max_length=80)
    brand: str | None = Field(default=None, max_length=80)
    price: Decimal | None = Field(default=None, ge=0)
    regular_price: Decimal | None = Field(default=None, ge=0)  # null ends a sale
    stock: int | None = Field(default=None, ge=0, le=10_000_000)
    active: bool | None = None
    attributes: dict[str, Any] | None = None
    categories: list[str] | None = None
    private: dict[str, Any] | None = None

    @field_validator("sku", "name", "category", "subcategory", "brand", mode="before")
    @classmethod
    def _single_line(cls, value: Any) -> Any:
        return _clean_text(value)

    @field_validator(
        "sku",
        "name",
        "description",
        "category",
        "subcategory",
        "brand",
        "price",
        "stock",
        "active",
        "attributes",
        "categories",
        "private",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("no puede ser nulo; omite el campo para no cambiarlo")
        return value

    @field_validator("sku")
    @classmethod
    def _sku_upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("price", "regular_price", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        return _money_text(value)

    @field_validator("price", "regular_price", mode="after")
    @classmethod
    def _two_decimals(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else _check_price(value)


class Product(ProductBase, table=True):
    __table_args__ = (
        CheckConstraint("price >= 0", name="ck_product_price_nonneg"),
        CheckConstraint("stock >= 0", name="ck_product_stock_nonneg"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(min_length=1, max_length=64, unique=True, index=True)
    description: str = Field(default="", sa_type=Text)
    category: str = Field(min_length=1, max_length=80, index=True)
    private: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # never in a public response
    demo: bool = Field(default=False)
    # Catalogue revision of the last change: the search index syncs "WHERE revision > seen".
    revision: int = Field(default=0, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProductPublic(ProductBase):
    id: int
    created_at: datetime
    updated_at: datetime
    # What tells this product apart from others with the same name ("Garrafa, 5 L"); set by the search index,
    # empty when the name is the catalogue's only one.
    variant: str = ""


class CatalogueMeta(SQLModel, table=True):
    """A single row whose revision grows with every catalogue write, in the same transaction."""

    __tablename__ = "catalogue_meta"

    id: int = Field(default=1, primary_key=True)
    revision: int = 0


# --------------------------------------------------------------------------- customers & conversations


class CustomerBase(SQLModel):
    external_id: str | None = Field(default=None, max_length=128)  # e.g. Telegram user id
    name: str = Field(default="", max_length=120)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)


class CustomerCreate(CustomerBase):
    pass


class Customer(CustomerBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=128, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerPublic(CustomerBase):
    id: int
    created_at: datetime


class ConversationBase(SQLModel):
    thread_id: str = Field(min_length=1, max_length=128)
    channel: str = Field(default="http", max_length=32)  # http, playground, telegram
    customer_id: int | None = Field(default=None, foreign_key="customer.id")


class Conversation(ConversationBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(min_length=1, max_length=128, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConversationPublic(ConversationBase):
    id: int
    created_at: datetime
    updated_at: datetime


class MessageBase(SQLModel):
    role: str = Field(max_length=16)  # user, assistant, tool, system
    content: str = Field(sa_type=Text)
    route: str | None = Field(default=None, max_length=32)


class Message(MessageBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MessagePublic(MessageBase):
    id: int
    conversation_id: int
    created_at: datetime


# --------------------------------------------------------------------------- carts & orders


class CartLine(SQLModel, table=True):
    """One product in a conversation's cart; prices are read at checkout, never stored here."""

    __tablename__ = "cart_line"
    __table_args__ = (
        UniqueConstraint("thread_id", "product_id", name="uq_cart_line_thread_product"),
        CheckConstraint("quantity > 0", name="ck_cart_line_qty_pos"),
    )

    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(max_length=128, index=True)
    product_id: int = Field(foreign_key="product.id")
    quantity: int = Field(gt=0, le=1000)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The order lifecycle (data/order_status.py moves an order along it): pendiente → confirmado → enviado →
# entregado, or cancelado. Spanish on purpose: these are the words the owner filters by and the customer reads.
ORDER_STATUSES = ("pendiente", "confirmado", "enviado", "entregado", "cancelado")
DELIVERY_METHODS = ("envio", "recogida")  # shipped to an address, or collected at a pickup point
ORDER_ACTORS = ("cliente", "tienda", "sistema")  # who moved an order: the customer, the owner, the software
ORDER_CHANNELS = ("http", "playground", "telegram", "langserve")  # where the order was placed


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class OrderBase(SQLModel):
    customer_id: int | None = Field(default=None, foreign_key="customer.id")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    status: str = Field(default="pendiente", max_length=16)  # one of ORDER_STATUSES
    # subtotal: the lines; shipping_cost: what delivery costs; total = subtotal + shipping_cost (what is charged).
    subtotal: Decimal = Field(default=Decimal("0.00"), ge=0, sa_type=Money)
    shipping_cost: Decimal = Field(default=Decimal("0.00"), ge=0, sa_type=Money)
    total: Decimal = Field(default=Decimal("0.00"), ge=0, sa_type=Money)
    currency: str = Field(default="EUR", max_length=3)
    # Customer details (personal data: never logged; `python -m manage forget-customer` empties them).
    customer_name: str | None = Field(default=None, max_length=120)
    customer_email: str | None = Field(default=None, max_length=254)
    customer_phone: str | None = Field(default=None, max_length=32)
    delivery_method: str | None = Field(default=None, max_length=16)  # one of DELIVERY_METHODS; None: not given
    address_line: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=80)
    province: str | None = Field(default=None, max_length=80)
    country: str = Field(default="ES", max_length=2)
    pickup_point: str | None = Field(default=None, max_length=120)
    payment_method: str | None = Field(default=None, max_length=32)
    channel: str = Field(default="http", max_length=32)  # one of ORDER_CHANNELS
    telegram_chat_id: int | None = Field(default=None, sa_type=BigInteger, index=True)  # for status notices


class Order(OrderBase, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total >= 0", name="ck_orders_total_nonneg"),
        CheckConstraint("subtotal >= 0", name="ck_orders_subtotal_nonneg"),
        CheckConstraint("shipping_cost >= 0", name="ck_orders_shipping_nonneg"),
        CheckConstraint(f"status IN ({_quoted(ORDER_STATUSES)})", name="ck_orders_status"),
        CheckConstraint(
            f"delivery_method IS NULL OR delivery_method IN ({_quoted(DELIVERY_METHODS)})",
            name="ck_orders_delivery_method",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="pendiente", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderEventBase(SQLModel):
    from_status: str | None = Field(default=None, max_length=16)  # None: the order was created in to_status
    to_status: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=16)  # one of ORDER_ACTORS
    note: str = Field(default="", max_length=500)


class OrderEvent(OrderEventBase, table=True):
    """One move of an order along its lifecycle, with when and who: the order's history."""

    __tablename__ = "order_event"
    __table_args__ = (CheckConstraint(f"actor IN ({_quoted(ORDER_ACTORS)})", name="ck_order_event_actor"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    note: str = Field(default="", sa_type=Text)
    # when the customer was told of this step (a status change by the shop); None: not yet. Never in the public API.
    notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderEventPublic(OrderEventBase):
    id: int
    order_id: int


class OrderLineBase(SQLModel):
    product_id: int = Field(foreign_key="product.id", index=True)
    sku: str = Field(max_length=64)  # snapshot: the product may be renamed or repriced later
    name: str = Field(max_length=300)
    unit_price: Decimal = Field(ge=0, sa_type=Money)
    quantity: int = Field(gt=0, le=1000)
    line_total: Decimal = Field(ge=0, sa_type=Money)


class OrderLine(OrderLineBase, table=True):
    __tablename__ = "order_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_order_line_qty_pos"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)


class OrderLinePublic(OrderLineBase):
    id: int
    order_id: int


class OrderPublic(OrderBase):
    id: int
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLinePublic] = []
    events: list[OrderEventPublic] = []
