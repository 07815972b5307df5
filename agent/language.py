"""Spanish as a shop writes it: money (1.299,00 €), stock, lists, and numbers customers type in words."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from decimal import Decimal

from data.types import format_euros
from vectorstore.text import fold

PUNCTUATION = "¿?¡!.,;:"  # what a rule never reads: questions, exclamations, sentence marks


def folded_words(text: str, marks: str = PUNCTUATION) -> str:
    """The text as rules read it: folded (lower case, no accents), these marks as spaces, single spaces.

    The one cleaner of customers' words; a reader that needs commas or dots (clauses, prices) passes fewer marks.
    """
    return " ".join(re.sub(f"[{re.escape(marks)}]", " ", fold(text)).split())


def euros(amount: Decimal | str) -> str:
    """1299 -> "1.299,00 €": the one money formatter (data.types.format_euros), as the composer calls it."""
    return format_euros(amount)


NUMBER_WORDS = {
    "un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "once": 11, "doce": 12, "quince": 15, "veinte": 20, "treinta": 30, "cincuenta": 50,
    "cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300, "quinientos": 500, "mil": 1000,
}  # fmt: skip

ORDINALS = {
    "primero": 1, "primer": 1, "primera": 1, "1o": 1, "1a": 1, "1º": 1,
    "segundo": 2, "segunda": 2, "2o": 2, "2a": 2, "2º": 2,
    "tercero": 3, "tercer": 3, "tercera": 3, "3o": 3, "3a": 3, "3º": 3,
    "cuarto": 4, "cuarta": 4, "quinto": 5, "quinta": 5,
}  # fmt: skip


def units(n: int) -> str:
    """The count of units said the Spanish way: "1 unidad", "3 unidades"."""
    return "1 unidad" if n == 1 else f"{n} unidades"


def stock_phrase(stock: int) -> str:
    """How a shop assistant says availability."""
    if stock <= 0:
        return "agotado ahora mismo"
    if stock <= 3:
        return f"quedan solo {units(stock)}"
    return f"{units(stock)} en stock"


def join(items: Sequence[str], last: str = "y") -> str:
    """["a", "b", "c"] -> "a, b y c"."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def pick(options: Sequence[str], seed: str) -> str:
    """A varied but reproducible choice: the same turn always reads the same, different turns differ."""
    digest = hashlib.blake2b(seed.encode("utf-8"), digest_size=4).digest()
    return options[int.from_bytes(digest, "big") % len(options)]


_AMOUNT = re.compile(r"(?<![\w.,])(\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?![\w])")


def amounts_in(text: str) -> list[Decimal]:
    """Every number written in a text, read the Spanish way first (1.299,00) and the English way otherwise."""
    found = []
    for raw in _AMOUNT.findall(text):
        if "," in raw:
            value = raw.replace(".", "").replace(",", ".")
        elif re.fullmatch(r"\d{1,3}(\.\d{3})+", raw):
            value = raw.replace(".", "")
        else:
            value = raw
        try:
            found.append(Decimal(value))
        except ArithmeticError:
            continue
    return found


def number_from_words(text: str) -> int | None:
    """A small quantity said in digits or words: "dos", "3", "una" -> int."""
    folded = fold(text).strip()
    if folded.isdigit():
        return int(folded)
    return NUMBER_WORDS.get(folded)


COLOURS = ("negro", "negra", "blanco", "blanca", "azul", "rojo", "roja", "verde", "gris", "plata", "rosa", "amarillo",
           "morado", "beige", "marron", "dorado", "medianoche")  # fmt: skip
