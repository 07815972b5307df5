"""Checkout details, collected in conversation before the confirmation: who, how to reach them, where it goes.

A small state machine over turns. The collected details live in the graph state (`order_details`, a JSON-able
dict) and `missing()` says which one to ask for next: name → contact (phone or e-mail) → delivery or pickup →
address (with a Spanish postal code) or pickup point. `read()` parses one message of the customer with the
validators of data.customer_details: the detail asked for, anything else recognisable in it ("Ana, 612 345 678"),
and corrections ("no, el portal es el 3B", "el correo es otro@correo.es", "mejor recogida"). A bad value is
answered with the validator's Spanish message and the question again; nothing is stored then.

Details given earlier in the conversation are reused (they stay in the state after an order), and a returning
Telegram customer is offered those of their last order. Words come from data/lexicon/order_talk.json.
These values are personal data: nothing here logs them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from agent.language import euros, folded_words
from agent.lexicon import lexicon, phrases
from data.customer_details import (
    InvalidDetailError,
    OrderDetails,
    provinces,
    validate_email,
    validate_name,
    validate_phone,
    validate_postal_code,
)
from vectorstore.text import fold

Details = dict[str, Any]
KEPT = ("name", "email", "phone", "delivery_method", "address_line", "postal_code", "city", "province", "pickup_point")
QUESTIONS = {
    "name": "¿A nombre de quién hago el pedido?",
    "contact": "¿Me dejas un teléfono o un correo electrónico para avisarte del pedido?",
    "address": "¿A qué dirección lo enviamos? Calle, número y piso, con el código postal y la localidad "
    "(por ejemplo: Calle Mayor 5, 3ºB, 28013 Madrid).",
    "postal_code": "¿Cuál es el código postal de la dirección de entrega?",
    "city": "¿Y la localidad?",
}
_EMAIL = re.compile(r"[^\s,;:<>()]*@[^\s,;:<>()]*")
_PHONE = re.compile(r"(?<![\w@])\+?\d[\d \-.()]{7,}\d(?![\w@])")
_PHONE_LIKE = re.compile(r"(?<![\w@])\+?(?=[\w \-.]*\d{3})[\w\-.]*\d[\w\-.]*(?: [\w\-.]*\d[\w\-.]*)*")
_POSTAL = re.compile(r"(?<![\d\w])(\d{4,6})(?![\d\w])")
_ADDRESS_NUMBER = re.compile(r"\b\d{1,4}\b")


@lru_cache(maxsize=1)
def _words() -> dict[str, Any]:
    return lexicon("order_talk")


def _cue(key: str) -> re.Pattern[str]:
    return _compiled(key)


@lru_cache(maxsize=16)
def _compiled(key: str) -> re.Pattern[str]:
    return phrases(list(_words().get(key, [])))


def folded_same(text: str) -> str:
    """The text folded character by character, so that a match's span can be read from the original."""
    return "".join(f if len(f := fold(c)) == 1 else c.lower() for c in text)


# --------------------------------------------------------------------------- yes or no

YES = re.compile(r"^(?:(?:orale|andale|bueno|pues),? )?(?:si|sip|vale|ok|okay|okey|confirmo|confirmado|de acuerdo|adelante|claro|venga|dale|perfecto|listo|"
                 r"correcto|hazlo|si,? (?:confirmo|por favor|adelante|claro|hazlo)|por supuesto|afirmativo)\b")  # fmt: skip
NO = re.compile(
    r"^(?:no|nop|cancela(?:lo|la)?|cancelar|espera|todavia no|aun no|mejor no|dejalo|ahora no|para|claro que no)\b"
)


def answer_kind(text: str) -> Literal["yes", "no", "other"]:
    """Whether the answer is a clear yes, a no, or something else (a new question)."""
    folded = folded_words(text)
    if YES.search(folded) and not re.search(r"\bno\b(?! (?:hay|habra) problema)", folded) and not NO.search(folded):
        # "sí, pero quita la funda", "vale, pero antes dime...": a yes with a change or a question is not a go-ahead
        return "other" if re.search(r"\b(?:pero|antes|espera|aunque|primero)\b", folded) else "yes"
    if NO.search(folded):
        return "no"
    return "other"


# --------------------------------------------------------------------------- where the checkout is


def collecting(state: Any) -> bool:
    """Whether a checkout is asking for details now."""
    return bool((state.get("order_details") or {}).get("collecting"))


def asking_for(state: Any) -> str | None:
    """The detail the checkout is asking for now ("name", "contact", "delivery", "address"...), or None."""
    details = state.get("order_details") or {}
    asking = details.get("asking")
    return str(asking) if details.get("collecting") and asking else None


def missing(details: Details, points: Sequence[Any] = ()) -> str | None:
    """The next detail to ask for, or None when the order can be confirmed."""
    if details.get("offered"):
        return "reuse"
    if not details.get("name"):
        return "name"
    if not (details.get("email") or details.get("phone")):
        return "contact"
    method = details.get("delivery_method")
    if method not in ("envio", "recogida"):
        return "delivery"
    if method == "envio":
        for key in ("address_line", "postal_code", "city"):
            if not details.get(key):
                return "address" if key == "address_line" else key
    elif not details.get("pickup_point") and len(points) > 1:
        return "pickup"
    return None


def question(asking: str, details: Details, rates: Sequence[Any], points: Sequence[Any]) -> str:
    """The question for one missing detail, in Spanish."""
    if asking == "reuse":
        return (
            f"¿Uso los datos de tu último pedido? {summary(details['offered'])}. Responde «sí» o dime los que cambian."
        )
    if asking == "delivery":
        ship = ""
        if rates:
            rate = rates[0]
            free = f", gratis desde {euros(rate.free_from)}" if rate.free_from is not None else ""
            ship = f" (a {rate.name}: {euros(rate.cost)}{free})"
        where = " o ".join(p.name for p in points) if points else "nuestra tienda"
        return f"¿Te lo enviamos a casa{ship} o prefieres recogerlo gratis en {where}?"
    if asking == "pickup":
        listed = "\n".join(f"- {p.name}: {p.address}" for p in points)
        return f"¿En qué punto lo recoges?\n{listed}"
    return QUESTIONS[asking]


def summary(details: Details) -> str:
    """Name, contact and delivery in one line: "Ana García · 612345678 · envío a Calle Mayor 5, 28013 Madrid"."""
    contact = " · ".join(v for v in (details.get("phone"), details.get("email")) if v)
    if details.get("delivery_method") == "recogida":
        where = f"recogida en {details.get('pickup_point') or 'tienda'}"
    elif details.get("address_line"):
        where = f"envío a {details['address_line']}, {details.get('postal_code', '')} {details.get('city', '')}"
    else:
        where = ""
    return " · ".join(v.strip() for v in (details.get("name") or "", contact, where) if v and v.strip())


def start(previous: Details | None, offered: Details | None) -> Details:
    """A checkout begins: details of this conversation are reused; else a returning customer's last ones offered."""
    kept = {k: v for k, v in (previous or {}).items() if k in KEPT and v}
    if not kept and offered:
        return {"collecting": True, "offered": offered}
    return {**kept, "collecting": True}


def offered_from(order: Any) -> Details | None:
    """The details of a returning customer's last order, as they would be reused."""
    if order is None:
        return None
    values = {
        "name": order.customer_name,
        "email": order.customer_email,
        "phone": order.customer_phone,
        "delivery_method": order.delivery_method,
        "address_line": order.address_line,
        "postal_code": order.postal_code,
        "city": order.city,
        "province": order.province,
        "pickup_point": order.pickup_point,
    }
    return {k: v for k, v in values.items() if v}


# --------------------------------------------------------------------------- reading the customer's answers


def answers(text: str, state: Any) -> bool:
    """Whether a message, while details are collected, is an answer or a correction (not a new question)."""
    if not collecting(state):
        return False
    details = state.get("order_details") or {}
    folded = folded_same(text).strip()
    if not folded:
        return False
    asking = details.get("asking")
    if _EMAIL.search(text) or _PHONE.search(text) or any(_cue(k).search(folded) for k in ("pickup", "delivery")):
        return True
    if _field_said(folded) or _cue("address_parts").search(folded):
        return True
    question_like = "?" in text or "¿" in text
    if asking == "reuse" or re.match(r"^(?:no|si|vale|ok|deja|dejalo|cancela)\b", folded):
        return not question_like
    if asking in ("contact", "address", "postal_code") and re.search(r"\d", folded):
        return True
    if asking == "address" and _cue("address_words").search(folded):
        return True
    few_words = len(folded.split()) <= 6 and not question_like
    return asking in ("name", "city", "pickup") and few_words and not re.search(r"\d", folded)


def _field_said(folded: str) -> str | None:
    """The detail a message names with a value after it ("el correo es…", "mi teléfono: …")."""
    for field, cues in (_words().get("fields") or {}).items():
        said = phrases(list(cues)).search(folded)
        if said and folded[said.end() :].strip(" :,.") and re.search(r"\b(?:es|sera|seria)\b|:", folded[said.end() :]):
            return str(field)
    return None


def read(text: str, details: Details, points: Sequence[Any] = ()) -> tuple[Details, str | None]:
    """The details this message gives (merged over `details`), or the unchanged details and a Spanish error."""
    folded = folded_same(text)
    asking = details.get("asking")
    out = dict(details)
    try:
        _read_contact(text, folded, asking, out)
        _read_delivery(folded, asking, out, points)
        _read_address(text, folded, asking, out)
        _read_name(text, folded, asking, out, details)
    except InvalidDetailError as exc:
        return details, f"{exc} {_again(exc.field, details)}"
    return out, None


def _again(field: str, details: Details) -> str:
    """The question to ask again after a bad value."""
    asking = {"email": "contact", "phone": "contact", "postal_code": "postal_code", "name": "name"}.get(field)
    if asking == "contact":
        return "¿Me lo escribes de nuevo?"
    return QUESTIONS.get(asking or str(details.get("asking") or ""), "¿Me lo escribes de nuevo?")


def _read_contact(text: str, folded: str, asking: str | None, out: Details) -> None:
    emails = _EMAIL.findall(text)
    if emails:
        out["email"] = validate_email(emails[0].strip(".,"))
    phone = _PHONE.search(text)
    said = _field_said(folded)
    if phone and len(re.sub(r"\D", "", phone.group())) >= 9:
        out["phone"] = validate_phone(phone.group())
    elif said == "phone" or (asking == "contact" and not emails and re.search(r"\d", folded)):
        value = re.split(r"\b(?:es|sera|seria)\b|:", text, maxsplit=1)[-1] if said else text
        validate_phone(re.sub(r"^\W*(?:mi |el )?(?:telefono|tel[eé]fono|m[oó]vil|tlf|tel)\b\W*", "", value.strip()))
    elif said == "email" and not emails:
        validate_email(re.split(r"\bes\b|:", text, maxsplit=1)[-1].strip())


def _read_delivery(folded: str, asking: str | None, out: Details, points: Sequence[Any]) -> None:
    point = _point_said(folded, points) if asking in ("pickup", "delivery") or _cue("pickup").search(folded) else None
    if _cue("pickup").search(folded) or point is not None:
        out["delivery_method"] = "recogida"
        chosen = point if point is not None else (points[0] if len(points) == 1 else None)
        out["pickup_point"] = chosen.name if chosen is not None else out.get("pickup_point")
    elif _cue("delivery").search(folded):
        out["delivery_method"] = "envio"
        out.pop("pickup_point", None)


def _point_said(folded: str, points: Sequence[Any]) -> Any:
    """The pickup point a message names ("la de Sants", "la primera", "2")."""
    ordinal = re.search(r"\b(?:la |el )?(primer[oa]?|1|segund[oa]|2|tercer[oa]?|3)\b", folded)
    if ordinal and len(folded.split()) <= 4:
        index = {"1": 0, "2": 1, "3": 2}.get(ordinal.group(1), 0 if ordinal.group(1).startswith("prim") else 1)
        if ordinal.group(1).startswith("terc"):
            index = 2
        return points[index] if index < len(points) else None
    for point in points:
        words = [w for w in fold(point.name).split() if len(w) > 3 and w not in ("tienda", "punto")]
        if any(re.search(rf"\b{re.escape(w)}\b", folded) for w in words):
            return point
    return None


def _read_address(text: str, folded: str, asking: str | None, out: Details) -> None:
    part = _cue("address_parts").search(folded)
    postal = _POSTAL.search(folded)
    said = _field_said(folded)
    if part and out.get("address_line") and not postal:  # "no, el portal es el 3B"
        value = re.sub(r"^\s*(?:es|sera|seria|:)?\s*(?:el|la)?\s*", "", text[part.end() :]).strip(" .,")
        if value:
            out["address_line"] = _set_part(out["address_line"], text[part.start() : part.end()], value)
        return
    if said == "city":
        out["city"] = re.split(r"\b(?:es|sera|seria)\b|:", text, maxsplit=1)[-1].strip(" .,")
        return
    wants_address = asking in ("address", "postal_code", "city") or said in ("address", "postal_code")
    if not wants_address and not (postal and _cue("address_words").search(folded)):
        return
    if postal:
        checked = validate_postal_code(postal.group(1))
        before = _strip_cue(text[: postal.start()], "address").strip(" ,.")
        after = text[postal.end() :].strip(" ,.")
        _check_province(checked, after or before)
        out.update(postal_code=checked.code, province=checked.province)
        if before and asking != "postal_code" and said != "postal_code":
            out["address_line"] = before
        if after:
            out["city"] = after
    elif asking == "postal_code" or said == "postal_code":
        validate_postal_code(re.sub(r"\D", "", folded) or folded)
    elif asking == "city":
        out["city"] = text.strip(" .,")
    elif asking == "address" or said == "address":
        out["address_line"] = _strip_cue(text, "address").strip(" .,")


def _strip_cue(text: str, field: str) -> str:
    """The value after "la dirección es", "mi dirección:"."""
    cues = (_words().get("fields") or {}).get(field, [])
    said = re.match(r"^\s*(?:(?:no|perdon|perdona|mejor)[ ,]+)?(?:mi |la )?(?:" + "|".join(map(re.escape, cues)) + r")"
                    r"\s*(?:es|sera|seria|:)?\s*", folded_same(text))  # fmt: skip
    return text[said.end() :] if said and cues else text


def _set_part(address: str, part: str, value: str) -> str:
    """The address with "portal 3B" (or piso, puerta…) replaced, or added when it had none."""
    name = fold(part)
    pattern = re.compile(rf"\b{re.escape(name)}\s+[^\s,]+", re.IGNORECASE)
    if pattern.search(folded_same(address)):
        found = pattern.search(folded_same(address))
        assert found is not None
        return f"{address[: found.start()]}{part} {value}{address[found.end() :]}"
    return f"{address}, {part} {value}"


def _check_province(checked: Any, place: str) -> None:
    """A province said beside the postal code must be the code's ("08001 Madrid" is refused)."""
    said = fold(place).strip()
    names = {fold(n): n for n in provinces().values()} | {
        fold(p): n for n in provinces().values() for p in n.split("/")
    }
    named = names.get(said)
    if named is not None and named != checked.province:
        raise InvalidDetailError(
            "postal_code", f"El código postal {checked.code} es de {checked.province}, no de {named}."
        )


def _read_name(text: str, folded: str, asking: str | None, out: Details, before: Details) -> None:
    prefix = _cue("name_prefixes").search(folded)
    explicit = prefix is not None and (prefix.start() == 0 or folded[: prefix.start()].strip(" ,") in ("no", "perdon"))
    if explicit and prefix is not None:
        value = re.split(r"[,;]", text[prefix.end() :].strip(" :"), maxsplit=1)[0]
        out["name"] = validate_name(re.sub(r"^\s*(?:es|sera)\s+", "", value).strip(" ."))
        return
    if asking != "name" or answer_kind(text) == "no":  # "no, gracias" at the name question stops the checkout
        return
    chunk = re.split(r"[,;\n]", text, maxsplit=1)[0].strip(" .¡!")
    if any(out.get(k) != before.get(k) for k in KEPT) and (not chunk or "@" in chunk or re.search(r"\d", chunk)):
        return
    out["name"] = validate_name(chunk)


# --------------------------------------------------------------------------- the confirmation


def shipping_cost(details: Details, subtotal: Decimal, rates: Sequence[Any], rate_for: Any) -> tuple[Decimal, str]:
    """What delivery costs for these details and how it is said ("Envío a Península (24-48 h): 4,95 €")."""
    if details.get("delivery_method") == "recogida":
        return Decimal("0.00"), f"Recogida en {details.get('pickup_point') or 'tienda'}: gratis"
    rate = rate_for(list(rates), str(details.get("postal_code") or ""))
    if rate is None:
        return Decimal("0.00"), "Envío: sin coste"
    cost = rate.cost_for(subtotal)
    when = f" ({rate.delivery})" if rate.delivery else ""
    return cost, f"Envío a {rate.name}{when}: {'gratis' if cost == 0 else euros(cost)}"


def confirm_text(lines: Sequence[Any], subtotal: str, details: Details, shipping: str, payment: str) -> str:
    """The confirmation: lines, shipping, total, the details and how to pay; then an explicit yes/no."""
    rows = [f"- {c['quantity']} × {c['name']}: {euros(c['line_total'])}" for c in lines]
    total = Decimal(subtotal) + Decimal(str(details.get("shipping_cost") or "0"))
    parts = [
        "Tu pedido:",
        *rows,
        f"Subtotal: {euros(subtotal)}",
        shipping,
        f"Total: {euros(total)}",
        f"Datos: {summary(details)}",
        *([f"Pago: {payment}"] if payment else []),
        "¿Confirmo el pedido? Responde «sí» para confirmarlo o «no» para seguir comprando; "
        "si algún dato no está bien, dime cuál.",
    ]
    return "\n".join(parts)


def order_details(details: Details, channel: str, chat_id: int | None) -> OrderDetails:
    """The checked details for data.orders.place_order."""
    pickup = details.get("delivery_method") == "recogida"
    return OrderDetails(
        delivery_method="recogida" if pickup else "envio",
        name=details.get("name"),
        email=details.get("email"),
        phone=details.get("phone"),
        address_line=None if pickup else details.get("address_line"),
        postal_code=None if pickup else details.get("postal_code"),
        city=None if pickup else details.get("city"),
        province=None if pickup else details.get("province"),
        pickup_point=details.get("pickup_point") if pickup else None,
        shipping_cost=Decimal(str(details.get("shipping_cost") or "0")),
        channel=channel,
        telegram_chat_id=chat_id,
    )


def kept(details: Details) -> Details:
    """What stays in the conversation after the order (for the next one): the details, not the checkout."""
    return {k: v for k, v in details.items() if k in KEPT and v}


def settled(details: Details | None) -> Details | None:
    """The details as the conversation keeps them after this turn (a stopped checkout's marker dropped)."""
    if details and details.get("stopped"):
        return {k: v for k, v in details.items() if k != "stopped"}
    return details
