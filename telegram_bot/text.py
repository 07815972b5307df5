"""What the bot writes: its own Spanish texts, HTML escaping, splitting, inline keyboards.

Replies go out with parse_mode=HTML, escaped, in parts of at most 4,096 characters cut at line boundaries; the order
confirmation and product lists carry inline buttons.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from agent.language import euros

MAX_TEXT = 4096  # Telegram's limit for one message, counted after entity parsing (UTF-16 code units)
MAX_PRODUCT_BUTTONS = 5

WELCOME = (
    "¡Hola! Soy el asistente de la tienda. Te ayudo a encontrar productos, te digo precios y existencias exactos "
    "y preparo tu pedido.\n\n"
    "Escríbeme como a un dependiente, por ejemplo:\n"
    "• «¿tenéis auriculares Sony?»\n"
    "• «¿cuánto cuesta el iPhone 15?»\n"
    "• «añade el primero al carrito»\n"
    "• «¿cómo puedo pagar?»\n\n"
    "Órdenes: /carrito (lo que llevas), /pedido (tramitar el pedido), /vaciar (vaciar el carrito), /ayuda."
)
HELP = (
    "Puedo buscar productos, darte precios y existencias, compararlos, recomendarte y preparar tu pedido.\n\n"
    "Ejemplos: «busco zapatillas de running», «¿queda stock del Galaxy S24?», «¿y el segundo?», "
    "«ponme dos», «¿cuánto tarda el envío?».\n\n"
    "/carrito — ver tu carrito\n"
    "/pedido — tramitar el pedido (te pido confirmación antes)\n"
    "/vaciar — vaciar el carrito\n"
    "/ayuda — esta ayuda\n\n"
    "En un grupo, menciónome (@) o responde a uno de mis mensajes."
)
# The agent understands these phrasings (its router does not act on the bare "/carrito", "/pedido" texts).
COMMAND_MESSAGES = {
    "carrito": "¿qué llevo en el carrito?",
    "pedido": "tramitar el pedido",
    "vaciar": "vaciar el carrito",
}
TOO_LONG = "Tu mensaje es demasiado largo (máximo {limit} caracteres). ¿Me lo resumes en unas líneas?"
UNKNOWN_COMMAND = "No conozco esa orden. Prueba /ayuda para ver lo que puedo hacer."
FAILED = "Lo siento, ahora mismo no he podido responderte. Inténtalo de nuevo en un momento."
STALE_CONFIRMATION = "Ese pedido ya no está pendiente de confirmar."
UNSUPPORTED = {
    "photo": "Aún no puedo ver fotos. Escríbeme el nombre, la marca o el tipo de producto y lo busco.",
    "voice": "Todavía no puedo escuchar notas de voz. Escríbeme lo que buscas y te ayudo.",
    "sticker": "¡Bonito sticker! Escríbeme qué producto buscas y te ayudo.",
    "location": "Gracias, pero no necesito tu ubicación. Pregúntame por productos, precios, envíos o tu pedido.",
    "document": "No puedo abrir archivos. Escríbeme lo que necesitas en un mensaje.",
    "other": "Solo entiendo mensajes de texto. Escríbeme lo que buscas.",
}

CONFIRM_YES = "order:yes"
CONFIRM_NO = "order:no"
ADD_PREFIX = "add:"
INFO_PREFIX = "info:"


def escape(text: str) -> str:
    """Text for parse_mode=HTML: what the agent wrote, shown as written."""
    return html.escape(text, quote=False)


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_for_telegram(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Escaped chunks of at most `limit` units each, cut at line boundaries.

    A single line longer than a message is cut at spaces, then by characters. Splitting happens before escaping, so
    no chunk ends inside an entity such as `&amp;`.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        for piece in _fit(line, limit):
            cost = units(escape(piece)) + (1 if current else 0)
            if current and size + cost > limit:
                chunks.append(escape("\n".join(current)))
                current, size = [], 0
                cost = units(escape(piece))
            current.append(piece)
            size += cost
    if current:
        chunks.append(escape("\n".join(current)))
    return [chunk for chunk in chunks if chunk.strip()] or [escape(text.strip()) or "…"]


def _fit(line: str, limit: int) -> list[str]:
    """A line cut into pieces that fit in one message once escaped: at spaces when possible."""
    if units(escape(line)) <= limit:
        return [line]
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if units(escape(candidate)) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while units(escape(word)) > limit:  # one "word" longer than a message: cut by characters
            cut = _longest_prefix(word, limit)
            pieces.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        pieces.append(current)
    return pieces


def _longest_prefix(word: str, limit: int) -> int:
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if units(escape(word[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def confirmation_keyboard() -> InlineKeyboardMarkup:
    """Confirmar / Seguir comprando: answered through the agent's order-confirmation interrupt."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Confirmar", callback_data=CONFIRM_YES),
                InlineKeyboardButton("🛒 Seguir comprando", callback_data=CONFIRM_NO),
            ]
        ]
    )


def products_keyboard(products: Sequence[Mapping[str, Any]]) -> InlineKeyboardMarkup | None:
    """For a reply that lists products: one row per product, «Añadir al carrito» and «Más detalles»."""
    rows = []
    for position, product in enumerate(products[:MAX_PRODUCT_BUTTONS], start=1):
        if "id" not in product:
            continue
        label = f"{position}. " if len(products) > 1 else ""
        row = [InlineKeyboardButton(f"🛒 {label}Añadir al carrito", callback_data=f"{ADD_PREFIX}{product['id']}")]
        if len(products) > 1:  # a single product's reply already gives its details
            row.append(InlineKeyboardButton(f"ℹ️ {label}Más detalles", callback_data=f"{INFO_PREFIX}{product['id']}"))
        rows.append(row)
    return InlineKeyboardMarkup(rows) if rows else None


def order_notice(order_id: int, lines: Sequence[tuple[int, str, str]], total: str, chat_label: str) -> str:
    """The message for the shop's admin chats: number, lines (quantity, name, line total) and total."""
    rows = [f"• {quantity} × {name}: {line_total}" for quantity, name, line_total in lines]
    return "\n".join([f"🧾 Nuevo pedido nº {order_id} por Telegram ({chat_label})", *rows, f"Total: {total}"])


def delivery_notice(order: Any) -> str:
    """Who ordered and how it is delivered, for the admin chats (the order's stored details)."""
    contact = " · ".join(v for v in (order.customer_name, order.customer_phone, order.customer_email) if v)
    if order.delivery_method == "recogida":
        where = f"Recogida en {order.pickup_point or 'tienda'}"
    elif order.delivery_method == "envio":
        where = f"Envío a {order.address_line}, {order.postal_code} {order.city} ({order.province or ''})"
    else:
        where = ""
    shipping = f"Envío: {euros(order.shipping_cost)}" if order.delivery_method else ""
    return "\n".join(v for v in (f"Cliente: {contact}" if contact else "", where, shipping) if v)


def status_notice(order_id: int, status: str, note: str) -> str:
    """A status change the shop made, for the customer's chat."""
    said = {"enviado": "ya va de camino", "entregado": "está entregado", "cancelado": "se ha cancelado",
            "confirmado": "está confirmado"}.get(status, f"está {status}")  # fmt: skip
    return f"📦 Novedades de tu pedido {order_id}: {said}{f' ({note})' if note else ''}."
