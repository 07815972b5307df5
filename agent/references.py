"""Which of the products on the table a customer means by their properties: "la negra", "la garrafa de 5 L".

Also "el de 16 GB", "el barato", "el normal", "los blancos", "la de medio litro".

Candidates are the products in play (the last list) or those seen earlier in the conversation; their displayed
names carry what tells them apart (capacity, colour, size, package: see `tools.facts.display_name`). Every content
word of the phrase must fit a candidate (colours in any gender, measures in any unit: "medio litro" is "500 ml"),
and the adjectives cheap, dear, plain, big and small choose among those that fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from agent.features import magnitude
from agent.language import COLOURS
from agent.lexicon import package_words, variant_words
from state import ProductFact
from vectorstore.text import fold, normalise_units, stem, words

_COLOUR_STEMS = {stem(c) for c in (*COLOURS, "plateado", "granate", "naranja", "lila", "turquesa")}
CHEAP = frozenset(["barato", "barata", "baratos", "baratas", "economico", "economica", "economicos", "economicas"])
DEAR = frozenset(["caro", "cara", "caros", "caras"])
PLAIN = frozenset(
    ["normal", "normales", "basico", "basica", "estandar", "sencillo", "sencilla", "clasico", "clasica", "original"]
)
BIG = frozenset(["grande", "grandes", "mayor"])
SMALL = frozenset(["pequeno", "pequena", "pequenos", "pequenas", "chico", "chica", "chiquito", "chiquita", "mini"])
#: Words that make a model more than the plain one ("el normal" is the one without them).
SIZE_LETTERS = frozenset(["s", "m", "l"])
UPGRADES = frozenset(["pro", "max", "plus", "ultra", "mini", "lite", "fe", "se", "air", "premium", "deluxe"])
_IGNORED = frozenset(
    [
        "el",
        "la",
        "los",
        "las",
        "lo",
        "un",
        "una",
        "unos",
        "unas",
        "de",
        "del",
        "al",
        "a",
        "y",
        "o",
        "en",
        "con",
        "para",
        "por",
        "que",
        "me",
        "te",
        "se",
        "le",
        "les",
        "mi",
        "tu",
        "su",
        "ese",
        "esa",
        "esos",
        "esas",
        "este",
        "esta",
        "estos",
        "estas",
        "eso",
        "esto",
        "aquel",
        "aquella",
        "otro",
        "otra",
        "mismo",
        "misma",
        "tambien",
        "mas",
        "muy",
        "pues",
        "vale",
        "bueno",
        "ok",
        "dame",
        "ponme",
        "pasame",
        "mandame",
        "anade",
        "agrega",
        "quiero",
        "llevo",
        "quedo",
        "prefiero",
        "elijo",
        "si",
        "no",
        "todo",
        "toda",
        "todos",
        "todas",
    ]
)
_MEASURE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(tb|gb|kg|g|l|ml|cl|cm|mm|m|w|mah|pulgadas|\")(?![a-z])")
_DIMENSION = {"kg": "mass", "g": "mass", "l": "volume", "ml": "volume", "cl": "volume", "tb": "data", "gb": "data",
              "cm": "length", "mm": "length", "m": "length", "w": "power", "mah": "charge", "pulgadas": "inch",
              '"': "inch"}  # fmt: skip


@dataclass
class Phrase:
    """What a reference says about the product it means."""

    words: list[str] = field(default_factory=list)  # content words (folded)
    measures: list[tuple[str, Decimal]] = field(default_factory=list)  # (dimension, amount in a base unit)
    cheap: bool = False
    dear: bool = False
    plain: bool = False
    big: bool = False
    small: bool = False
    plural: bool = False

    def empty(self) -> bool:
        return not (self.words or self.measures or self.cheap or self.dear or self.plain or self.big or self.small)


def measures_in(text: str) -> list[tuple[str, Decimal]]:
    """(dimension, amount in a base unit) of every measure in a folded, unit-normalised text."""
    out = []
    for match in _MEASURE.finditer(text):
        amount = magnitude(f"{match.group(1)} {match.group(2)}")
        if amount is not None:
            out.append((_DIMENSION[match.group(2)], amount))
    return out


def read(text: str) -> Phrase:
    """The properties a folded phrase names ("las dos de 1 kilo baratas")."""
    normalised = normalise_units(text)
    phrase = Phrase(measures=measures_in(normalised))
    rest = _MEASURE.sub(" ", normalised)
    previous = ""
    for word in words(rest):
        if word.isdigit() and previous == "talla":  # "la talla 4": the size is the number
            phrase.words.append(word)
        previous = word
        if word in CHEAP:
            phrase.cheap = True
        elif word in DEAR:
            phrase.dear = True
        elif word in PLAIN:
            phrase.plain = True
        elif word in BIG:
            phrase.big = True
        elif word in SMALL:
            phrase.small = True
        elif word not in _IGNORED and (len(word) > 1 or word in SIZE_LETTERS):
            phrase.words.append(word)  # "la M" (a size), "el pack de 12" (a count the name says)
    phrase.plural = bool(re.search(r"\b(?:los|las|unos|unas|ambos|ambas)\b", text))
    return phrase


def _fits_word(word: str, tokens: set[str], stems: set[str], loose: bool = False) -> bool:
    if word in tokens or stem(word) in stems:
        return True
    if loose and package_words().get(word, frozenset()) & tokens:  # "la bolsa de 1 kilo" is the "Paquete, 1 kg"
        return True
    if stem(word) in _COLOUR_STEMS:  # "blancas" fits "Blanco"
        return stem(word) in stems
    return len(word) >= 4 and any(t.startswith(word) or word.startswith(t) for t in tokens if len(t) >= 4)


def fits(phrase: Phrase, product: ProductFact, loose: bool = False) -> bool:
    """Every word and measure of the phrase is in the product's displayed name or brand."""
    text = fold(f"{product.get('name', '')} {product.get('brand', '')}")
    tokens = set(words(text))
    stems = {stem(t) for t in tokens}
    if not all(_fits_word(w, tokens, stems, loose) for w in phrase.words):
        return False
    own = measures_in(normalise_units(text))
    return all(m in own for m in phrase.measures)


def with_number(number: str, products: list[ProductFact]) -> list[ProductFact]:
    """The products whose displayed name carries a number on its own ("la de 8").

    "… 8 GB …", "Pixel 8" and "talla 8" carry 8; a model code ("15IAH8") or another number ("128") does not.
    """
    alone = re.compile(rf"(?<![\w.,]){re.escape(number)}(?![\w.,]|,\d)")

    def own(name: str) -> bool:
        # the end of a range ("para TV de 32 a 65\"") or a bound ("de más de 8 kg") is not the product's version
        return any(
            not re.search(r"(?:\b(?:a|hasta)|\bmas de|\bmenos de)\s*$", name[: m.start()])
            and not re.match(r"\s*\"?\s*a\s+\d", name[m.end() :])
            for m in alone.finditer(name)
        )

    return [p for p in products if own(fold(str(p.get("name", ""))))]


def _size(product: ProductFact) -> Decimal:
    found = measures_in(normalise_units(fold(product.get("name", ""))))
    return found[-1][1] if found else Decimal(0)


def plainness(name: str) -> int:
    """How many "Pro", "Max", "Ultra"... a name carries (the plain model has none)."""
    return sum(1 for w in words(name) if w in UPGRADES)


def narrow(phrase: Phrase, candidates: list[ProductFact]) -> list[ProductFact]:
    """Every candidate the phrase's words and adjectives select, however many ("el normal": the plain versions)."""
    if phrase.empty() or not candidates:
        return []
    # a package said in other words ("bolsa" for "Paquete") only when none is said as the names say it
    fitting = [c for c in candidates if fits(phrase, c)] or [c for c in candidates if fits(phrase, c, loose=True)]
    if not fitting:
        return []
    price = lambda p: Decimal(str(p.get("price", "0")))  # noqa: E731
    if phrase.cheap or phrase.dear:
        ordered = sorted(fitting, key=price, reverse=phrase.dear)
        return ordered[:2] if phrase.plural and len(ordered) > 2 else ordered[:1]
    if phrase.plain:
        least = min(plainness(c.get("name", "")) for c in fitting)
        fitting = [c for c in fitting if plainness(c.get("name", "")) == least]
    if phrase.big or phrase.small:
        return [max(fitting, key=_size) if phrase.big else min(fitting, key=_size)]
    return fitting


def pick(phrase: Phrase, candidates: list[ProductFact]) -> list[ProductFact]:
    """The candidates the phrase means ([] when it names none of them, or nothing at all)."""
    fitting = narrow(phrase, candidates)
    if phrase.plural or len(fitting) == 1 or phrase.cheap or phrase.dear or phrase.big or phrase.small:
        return fitting
    if fitting and phrase.words:
        # "un pack de 6 bricks": the one that adds no version word of its own ("mini") to what was said
        said = {stem(w) for w in phrase.words}
        extra = {id(c): sum(1 for w in words(fold(c.get("name", ""))) if w in variant_words() and stem(w) not in said)
                 for c in fitting}  # fmt: skip
        least = min(extra.values())
        plainest = [c for c in fitting if extra[id(c)] == least]
        if len(plainest) == 1:
            return plainest
    return []  # several fit a singular phrase: not a reference the customer made clear


_ASKS_GAP = re.compile(r"\bpor cuanto\b|\bcuanto mas\b|\bdiferencia\b")


def extreme_in_play(products: list[ProductFact], folded: str, *, cheapest: bool) -> list[ProductFact]:
    """The cheapest or dearest of the products in play.

    Asked "¿cuál…?", also the ones it ties with, or the next one when the customer asks by how much ("¿cuál es
    más cara y por cuánto?").
    """
    ranked = sorted(products, key=lambda p: Decimal(p.get("price", "0")))
    if cheapest:
        ranked.reverse()
    pick = ranked[-1]
    if not re.search(r"\bcual(?:es)?\b", folded):  # "ponme el más barato": one product
        return [pick]
    ties = [p for p in ranked if Decimal(p.get("price", "0")) == Decimal(pick.get("price", "0"))]
    if len(ties) > 1:
        return ties[-3:]
    if _ASKS_GAP.search(folded) and len(ranked) > 1:
        return [pick, ranked[-2]]
    return [pick]


_NUMBER_REFERENCE = re.compile(
    r"\b(?:el|la|los|las|alguno|alguna|algun|uno|una|ese|esa|esos|esas) de \d{1,4}\b"
    r"(?! ?(?:euros?|€|unidades|uds|gb|tb|mb|kg|g|l|ml|cl|pulgadas|\"|w|mah|cm|mm|m)\b)"
)


def number_reference(folded: str) -> str | None:
    """A version named by a bare number ("la de 8", "el de 256"), or None (units said are measures, not this)."""
    found = _NUMBER_REFERENCE.search(folded)
    return found.group(0) if found else None
