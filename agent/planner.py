"""The offline planner: what a Spanish message asks for, read without an LLM.

It resolves references to earlier answers ("el segundo", "ese en negro", "¿y el más barato?"), and pulls out the
arguments tools need: the product words, quantity, budget, category, in-stock wish, cheapest/dearest. Everything
works on folded text (no accents, lower case), so "cuanto questa el ifone" and "¿Cuánto cuesta el iPhone?" read
alike where it matters.
"""

from __future__ import annotations

import re
from copy import copy
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from agent import references
from agent.features import feature_of, leftover_words
from agent.language import COLOURS, NUMBER_WORDS, ORDINALS
from agent.lexicon import (
    container_pattern,
    interjections,
    is_gift,
    kind_words,
    offer_words,
    people,
    purpose_of,
    remarks,
    respell,
)
from data.types import parse_money
from state import ProductFact
from vectorstore.text import fold, stem, words

# Phrases that say what the customer wants done, not what product: removed before searching.
FILLER = [
    r"cuanto (?:me )?(?:cuesta|cuestan|vale|valen|sale|salen|es|son)", r"a como (?:esta|estan|va|van|sale|salen)",
    r"que precio tiene(?:n)?", r"precio(?:s)? de",
    r"(?:el |la )?precio", r"me (?:pasas|pasas|dices|das|podrias decir|puedes decir) (?:el precio de )?",
    r"(?:hay|habra|habran|teneis|tienen|tienes|tenes|tendreis|tendrian|venden|vendeis|vendes)"
    r" (?:stock de |existencias de )?",
    r"quedan?(?: unidades de)?", r"esta(?:n)? disponibles?", r"disponibilidad de", r"en stock", r"stock de", r"stock",
    r"existencias de", r"existencias", r"unidades de", r"busco", r"estoy buscando", r"buscaba",
    r"(?:ando|andaba|andamos|estaba|estamos) buscando", r"queria ver", r"quiero ver",
    r"quisiera ver", r"quiero", r"quisiera", r"necesito", r"me gustaria", r"muestrame", r"ensename", r"enseñame",
    r"dime", r"me recomiendas", r"que me recomiendas", r"recomiendame", r"me aconsejas", r"aconsejame",
    r"recomendacion(?:es)?", r"algo (?:parecido|similar) (?:a|al)", r"parecido(?:s)? (?:a|al)", r"similar(?:es)? (?:a|al)",
    r"alternativa(?:s)? (?:a|al)", r"que va bien con", r"que combina con", r"accesorios? (?:para|de)", r"complementos? (?:para|de)",
    r"compara(?:r)?", r"comparame", r"diferencia entre", r"caracteristicas de(?:l)?", r"ficha de(?:l)?", r"detalles de(?:l)?",
    r"informacion (?:de|sobre)", r"sobre todo", r"(?:cual|que) (?:me|le|te) (?:va|iria|vendria|conviene) (?:mejor|bien)",
    r"(?:me|le|te) (?:va|iria|vendria) (?:mejor|bien)", r"que (?:tengas|tengan|tengais|tenes|haya)",
    r"(?:que )?(?:tamanos|formatos|presentaciones|versiones|modelos|variedades) (?:hay|teneis|tienen)?",
    r"mas barat[oa]s?", r"mas econom?ic[oa]s?", r"mas car[oa]s?", r"por favor", r"porfa",
    r"gracias", r"hola", r"buen(?:a|o)s (?:tardes|noches|dias)", r"buen dia", r"buenas", r"oye", r"una pregunta", r"me interesa", r"me interesan", r"interesado en",
    r"(?:al|del|en el|el|mi) (?:carrito|cesta)", r"carrito", r"cesta", r"(?:anad|agreg|met|pon|quit|elimin|sac|borr)\w*",
    r"comprar(?:lo|la|los|las)?", r"compra", r"me (?:lo|la|los|las) (?:llevo|quedo)", r"lo quiero", r"la quiero",
    r"(?:hacer|realizar|confirmar|tramitar|finalizar) (?:el |mi )?pedido", r"pedido",
    # follow-ups about what is already on the table: "¿cuántas unidades les quedan?", "¿qué le va bien?"
    r"cuant[oa]s?(?: unidades)?", r"(?:le |les )?(?:va|van) bien(?: con)?", r"(?:me )?quedo con", r"stok",
    r"aunque (?:este|esten|estuviera|estuvieran|sea) agotad[oa]s?", r"incluso agotad[oa]s?",
    r"manej(?:an|as|ais|a)", r"mostra(?:me|nos)", r"dale", r"vendeis", r"venden", r"vendes",
]  # fmt: skip
_FILLER_RE = re.compile(r"\b(?:" + "|".join(FILLER) + r")\b")
_STOP = {
    "el", "la", "los", "las", "un", "una", "unos", "unas", "de", "del", "al", "a", "que", "y", "o", "me", "te", "se",
    "por", "para", "con", "en", "es", "son", "lo", "le", "les", "mi", "tu", "su", "algo", "alguno", "alguna", "algun",
    "algunos", "algunas", "cual",
    "cuales", "como", "donde", "cuando", "si", "no", "ya", "tambien", "ademas", "pero", "mas", "muy", "tan", "hay",
    "vosotros", "ustedes", "usted", "favor", "ese", "esa", "este", "esta", "eso", "esto", "aqui", "ahi", "ahora",
    "tienda", "teneis", "tienen", "tienes", "habra", "habran", "x", "euros", "euro", "eur", "e", "primero", "primera",
    "primer",
    "segundo", "segunda", "tercero", "tercera", "tercer", "cuarto", "cuarta", "quinto", "quinta", "ultimo", "ultima",
    "otro", "otra", "uno", "mismo", "misma", "os", "nos", "esos", "esas", "estos", "estas", "aquel", "aquella",
    "aquellos", "aquellas", "unidades", "unidad", "uds", "todos", "todas", "catalogo",
    # interjections that open a turn ("vaya, ¿y en blanco?", "vale, pues pon dos")
    "vaya", "vale", "pues", "bueno", "ok", "okey", "genial", "perfecto", "entonces", "lastima", "venga", "guay",
    "mejor",
}  # fmt: skip

# An amount: "1.500" (Spanish thousands) and "1.500,50" whole, else "12", "12,50", "12.5".
# A measure is no budget: "más de 16 GB", "que pese menos de 2 kilos".
_AMOUNT = (
    r"(\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?!\d)"
    r"(?!\s*(?:gb|tb|mb|kg|kilos?|gr?|gramos|l|litros?|ml|cl|cm|mm|metros?|m|pulgadas|\"|w|vatios|mah|horas?|dias?|"
    r"semanas|meses|anos|unidades|uds|piezas|personas|plazas|velocidades|puertas)\b)"
)
_BUDGET_PATTERNS = [
    (re.compile(r"entre " + _AMOUNT + " y " + _AMOUNT), "range"),
    # "de 20 a 30 euros": a range only when it says money (not "de 2 a 3 días")
    (re.compile(r"\bde " + _AMOUNT + r" a " + _AMOUNT + r"(?=\s*(?:€|euros?|eur|pavos|lucas))"), "range"),
    (re.compile(r"(?:menos de|por debajo de(?: los)?|hasta|maximo|max\.?|no mas de|inferior a|como mucho|tope de|"
                r"presupuesto de|que no (?:se )?pase de|que no (?:supere|exceda|sobrepase)|"
                r"sin pasar(?:me|nos)? de|sin superar|no pasar de|que no cueste mas de)"
                r" (?:(?:los|las|unos|unas) )?" + _AMOUNT), "max"),
    (re.compile(r"(?:mas de|por encima de|minimo|desde|superior a|a partir de) " + _AMOUNT), "min"),
    # "de unos 30 €", "sobre 50 euros", "alrededor de 100": about that much, so a little over is fine
    (re.compile(r"(?:unos|unas|sobre|alrededor de|aproximadamente|aprox\.?|mas o menos|cerca de) " + _AMOUNT
                + r"(?=\s*(?:€|euros?|eur|pavos|lucas))"), "about"),
]  # fmt: skip
_CURRENCY = r"\s*(?:€|euros?|eur|pavos|lucas)?"

_REFERENCE_WORDS = re.compile(
    r"\b(?:el|la|lo) (?:primer[oa]?|segund[oa]|tercer[oa]?|cuart[oa]|quint[oa]|ultim[oa]|1o|2o|3o)\b"
    r"|\b(?:ese|esa|este|eso|esto|esos|esas|estos|el mismo|la misma|aquel|aquella|ambos|los dos|las dos)\b"
    # "esta"/"estas" name a product ("¿cuánto cuesta esta?") unless they are the verb ("¿a cuánto está el ...?")
    r"|\bestas?\b(?! (?:el|la|los|las|lo|en|de|a|disponibles?|agotad\w*|rebajad\w*|bien|mal)\b)"
    r"|\bnumero \d\b|\bel \d\b|^y (?:en|el|la|de|con|si)\b|^(?:y )?(?:el|la) (?:mas barat|mas car|de \d)"
)
_ORDINAL = re.compile(
    r"\b(?:el|la|lo|del|al)? ?(primer[oa]?|segund[oa]|tercer[oa]?|cuart[oa]|quint[oa]|ultim[oa]|[1-5][oa]?)\b"
    r"(?! (?:euros?|€|gb|kg|cm|unidades))"
)
_COUNT = r"(\d{1,2}|una|un|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez)"
_QUANTITY = re.compile(
    # "añade dos fundas", "quiero 3", "ponme una": the number right after the verb ...
    r"\b(?:anad\w*|agreg\w*|met\w*|pon\w*|quiero|quisiera|compr\w*|dame|quit\w*|sac\w*|elimin\w*|llevo|pido)"
    r"(?: tambien| me| otras?| otros?)? " + _COUNT + r"\b(?! ?(?:gb|tb|kg|cm|mm|ml|l|pulgadas|euros?|€))"
    # ... or before "unidades": "3 unidades del iphone"
    r"|\b" + _COUNT + r" (?:unidades|unidad|uds)\b"
)
DETAILS = (
    r"\b(?:caracteristicas|detalles|ficha|especificaciones|informacion|como es|que tal es|describe|"
    r"cuant[oa]s? (?:megapixeles|gb|pulgadas|vatios|horas|mah)|cuanto (?:dura|pesa|mide))\b"
)


@dataclass
class Plan:
    """What one message asks, in tool-argument form."""

    text: str
    folded: str
    query: str  # product words left after removing intent phrases
    references: list[ProductFact] = field(default_factory=list)  # products named by reference
    candidates: list[ProductFact] = field(default_factory=list)  # several shown fit the description said
    is_reference: bool = False  # the message leans on earlier answers
    variant_words: list[str] = field(default_factory=list)  # "en negro", "de 256 gb"
    quantity: int = 1
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    cheapest: bool = False
    dearest: bool = False
    in_stock: bool = False
    details: bool = False  # asks for the product sheet ("características del Kindle")
    include_sold_out: bool = False  # "el más caro, aunque esté agotado"
    category: str | None = None  # a category named exactly: a search filter
    kind: str | None = None  # the kind of product meant, also by everyday word or plural ("la tele", "portátil")
    feature: dict[str, Any] | None = None  # a question about features (features.Feature as a dict)
    purpose: str | None = None  # what it is for ("correr", "programar"): selects kinds, never a search word
    purpose_kinds: list[str] = field(default_factory=list)  # the catalogue's kinds that serve the purpose
    purpose_words: str = ""  # words that describe the purpose, to rank within those kinds
    gift: bool = False  # a present for someone
    at_least: str = ""  # a measure said as a minimum ("de 55 pulgadas pa arriba" -> "55 pulgadas")
    purpose_said: str = ""  # "para hacerlo al horno": left out of the query (unless a product's name says it)
    on_sale: bool = False  # asks what is on sale, or whether this is ("¿qué tenéis de oferta?", "¿está rebajado?")

    def names_only_a_version(self) -> bool:
        """Whether the product words only say which version ("en blanco", "de 256 GB"), not which product."""
        words = self.query.split()
        return bool(words) and all(
            colour_of(w) is not None or re.fullmatch(r"\d+(?:gb|tb)?|gb|tb|talla|pulgadas", w) for w in words
        )

    def dump(self) -> dict[str, Any]:
        """Plain JSON-able form for graph state (checkpoints hold only standard types)."""
        out = asdict(self)
        for key in ("min_price", "max_price"):
            out[key] = None if out[key] is None else str(out[key])
        return out

    @classmethod
    def load(cls, data: dict[str, Any]) -> Plan:
        values = dict(data)
        for key in ("min_price", "max_price"):
            values[key] = None if values.get(key) is None else Decimal(values[key])
        return cls(**values)


def _money(raw: str) -> Decimal:
    """An amount as customers write it: "1.500" is fifteen hundred euros, "12,50" twelve and a half."""
    return parse_money(raw)


def budget(folded: str) -> tuple[Decimal | None, Decimal | None, str]:
    """(min, max, text without the budget phrase) from "menos de 50 €", "entre 20 y 30 euros", "hasta 100"."""
    low = high = None
    for pattern, kind in _BUDGET_PATTERNS:
        full = re.compile(pattern.pattern + _CURRENCY)
        match = full.search(folded)
        if not match:
            continue
        if kind == "range":
            low, high = sorted((_money(match.group(1)), _money(match.group(2))))
        elif kind == "max":
            high = _money(match.group(1))
        elif kind == "about" and high is None:
            high = (_money(match.group(1)) * Decimal("1.2")).quantize(Decimal("0.01"))
        else:
            low = _money(match.group(1))
        folded = folded[: match.start()] + " " + folded[match.end() :]
    return low, high, folded


def quantity(folded: str) -> int:
    """Units asked for: "añade dos", "3 unidades", "x2"; 1 when unsaid."""
    match = re.search(r"\bx ?(\d{1,2})\b|\b(\d{1,2}) ?x\b", folded)
    if match:
        return int(match.group(1) or match.group(2))
    match = _QUANTITY.search(folded)
    if match:
        word = match.group(1) or match.group(2)
        value = int(word) if word.isdigit() else NUMBER_WORDS.get(word, 1)
        if word in ("un", "una", "uno"):
            return 1
        return max(1, min(value, 99))
    return 1


def ordinal_refs(folded: str, products: list[ProductFact]) -> list[ProductFact]:
    """Products picked from the last list by position: "el segundo", "el último", "el 3"."""
    if not products:
        return []
    out: list[ProductFact] = []
    for match in _ORDINAL.finditer(folded):
        word = match.group(1)
        if word.startswith("ultim"):
            index = len(products)
        elif word[0].isdigit():
            if not match.group(0).strip().startswith(("el", "la", "lo", "del", "al")) and not re.search(
                r"(?:numero|el|la) " + word[0], folded
            ):
                continue
            index = int(word[0])
        else:
            index = ORDINALS.get(word, 0)
        if 1 <= index <= len(products) and products[index - 1] not in out:
            out.append(products[index - 1])
    return out


_INFINITIVE_PURPOSE = re.compile(
    r"\b(?:es |son |lo quiero |la quiero |los quiero )?pa(?:ra)? (?:salir a |ir a )?[a-z]+(?:ar|er|ir)"
    r"(?:(?:lo|la|los|las|le|les|me|te|se)\b(?: \w+){0,3}|(?: (?:al|el|la|los|las|en|con|de|un|una|mi|su|unas?|unos?)\b)?"
    r"(?: \w+){1,3})(?=\s*[,.;]|$)"
)


@lru_cache(maxsize=1)
def _container() -> re.Pattern[str]:
    """A count and its container: "2 bolsas de" (data/lexicon/attributes.json); group 1 is the count."""
    return re.compile(rf"\b(\d{{1,2}}|un|una|unos|unas|dos|tres|cuatro|cinco|seis) {container_pattern()}")


_QUALIFIER = re.compile(r"\b(con|sin) ((?:(?!(?:para|y|que|en|por|pero|o|mas|menos)\b)\w+ ?){1,4})")
_SMALL_WORDS = frozenset(["de", "del", "la", "el", "los", "las", "un", "una", "unos", "unas", "al"])


def qualifiers(folded: str) -> list[tuple[str, list[str]]]:
    """What the customer wants with or without: "con cancelación de ruido", "sin sal" -> ("con", [...])."""
    out = []
    for way, phrase in _QUALIFIER.findall(folded):
        said = [w for w in words(phrase) if w not in _SMALL_WORDS][:3]
        if said:
            out.append((way, said))
    return out


def stop_word(word: str) -> bool:
    """Whether a folded word never says which product ("de", "para", "esos")."""
    return word in _STOP


def clean_query(folded: str) -> str:
    """The product words of a message: intent phrases, budget and filler removed."""
    text = _container().sub(r"\1", folded)  # "2 bolsas de briquetas": 2 of the briquettes, not of a bag
    text = _FILLER_RE.sub(" ", text)
    text = remarks().sub(" ", text)  # "vivo en Valencia", "de 55 pulgadas pa arriba" (data/lexicon/fillers.json)
    text = re.sub(r"[¿?¡!.,;:()\"'«»]", " ", text)
    text = interjections().sub(" ", text)  # "ah, qué pena", "órale", "listo" (data/lexicon/fillers.json)
    text = people().sub(" ", text)  # "son para mi suegra", "mi viejo es hipertenso"
    tokens = [t for t in text.split() if t not in _STOP]
    # "cerveza en lata, 0,50 € la lata": a word said twice is asked once
    return " ".join(t for i, t in enumerate(tokens) if not (t.isalpha() and t in tokens[:i]))


@lru_cache(maxsize=4096)
def _plan_text_cached(text: str) -> Plan:
    return plan(text)


def plan_text(text: str) -> Plan:
    """The plan of a message read on its own (no conversation): memoised, since several stages ask."""
    return copy(_plan_text_cached(text))


_UNIT = r"(pulgadas|\"|gb|tb|kg|g|l|litros|ml|w|vatios|mah|personas|plazas|tazas)"
_AT_LEAST = re.compile(
    rf"\b(?:de )?(\d+(?:[.,]\d+)?) ?{_UNIT}(?: (?:pa|para) arriba| o mas| en adelante| como minimo)\b|"
    rf"\b(?:minimo|al menos|mas de|desde) (\d+(?:[.,]\d+)?) ?{_UNIT}"
)
_BY_PRICE = re.compile(r"\b(?:el|la) (?:barat[oa]|car[oa]|economic[oa])\b")


def plan(text: str, *, products: list[ProductFact] | None = None, focus: ProductFact | None = None,
         categories: dict[str, str] | None = None, seen: list[ProductFact] | None = None,
         attribute_keys: frozenset[str] = frozenset()) -> Plan:  # fmt: skip
    """Read one message against the conversation so far."""
    products = products or []
    # "olvídate de esa: dame una de 15 kg": a colon ends a sentence
    folded = re.sub(r":(?=\s)", ". ", re.sub(r"['’]s\b", "s", fold(text)))
    folded = respell(" ".join(re.sub(r"[¿?¡!;:()\"'«»]", " ", folded).split()))
    low, high, rest = budget(folded)
    result = Plan(text=text, folded=folded, query="", min_price=low, max_price=high)
    _read_flags(result, folded)
    result.quantity = quantity(rest)
    result.references = ordinal_refs(folded, products)
    demonstrative = _demonstrative(text, folded)
    both = re.search(r"\b(?:ambos|los dos|las dos|los tres)\b", folded)
    if both and products:
        result.references = products[: 3 if "tres" in both.group(0) else 2]
    elif _THEIR_DIFFERENCES.search(folded) and 2 <= len(products) <= 3:
        result.references = list(products)  # "¿en qué se diferencian?" right after two or three products
    result.variant_words = _variant_words(folded)
    query = clean_query(_set_aside(result, rest))
    query = _purpose_and_feature(result, folded, query, categories, attribute_keys)
    result.is_reference = result.is_reference or bool(result.references) or bool(_REFERENCE_WORDS.search(folded))
    if (result.cheapest or result.dearest) and not query and products:
        result.references = references.extreme_in_play(products, folded, cheapest=result.cheapest)
        result.is_reference = True
    numbered = references.number_reference(folded)
    if numbered and not result.references and len(products) >= 2:
        query = _refer_by_number(result, query, numbered, products, focus)
    if focus and re.fullmatch(r"\d{1,2}", query) and not result.variant_words:
        # "pon los 2 que quedan", "añade 2": a count of the product in focus, not a product called "2"
        result.quantity = result.quantity if result.quantity > 1 else int(query)
        result.references = [focus]
        result.is_reference = True
        query = ""
    if not result.references and products and query:
        query = _refer_in_play(result, query, folded, products)
    if not result.references and not result.candidates and seen and query and (demonstrative or _PICK.search(folded)):
        # "me quedo con la Spigen, añádela": the Spigen shown earlier in the conversation, the latest one
        result.references = named_in_play(query, seen, latest=True)
        result.is_reference = result.is_reference or bool(result.references)
    focus_aside = (
        bool(result.candidates) and focus is not None and all(p.get("id") != focus.get("id") for p in products)
    )
    if (
        not result.references
        and focus
        and not focus_aside  # "¿lo hay en blanco?" about the versions just listed, not an earlier product
        and (demonstrative or result.variant_words)
        and not names_new_product(query)
        and not _names_other_than(query, focus, result.variant_words)
    ):
        result.references = [focus]
        result.is_reference = True
    if categories:
        _read_kind(result, query, folded, categories)
    result.query = query
    return result


def _read_flags(result: Plan, folded: str) -> None:
    """Sort, stock and detail words: "el más barato", "en stock", "aunque esté agotado", "detalles"."""
    result.cheapest = bool(re.search(r"\bmas (?:barat|econom)|\bmejor precio\b|\bel minimo\b", folded))
    result.dearest = bool(re.search(r"\bmas car[oa]s?\b|\bde mas precio\b|\bgama alta\b", folded))
    result.in_stock = bool(re.search(r"\b(?:en stock|disponibles?|que teng(?:ais|an)|que haya)\b", folded))
    result.include_sold_out = bool(
        re.search(r"\baunque (?:este|esten|estuviera|estuvieran) agotad|\bincluso agotad", folded)
    )
    result.details = bool(re.search(DETAILS, folded))


def _demonstrative(text: str, folded: str) -> re.Match[str] | None:
    """A word pointing at something already talked about ("ese", "añádelo", "lo que queda"), if any.

    "esta" folded may be the verb "está" ("¿está disponible la PS5?"): a demonstrative is not followed by a
    state or a preposition.
    """
    verb_esta = re.search(r"\best[aá]\b", text.casefold()) and "está" in text.casefold()
    demonstrative = re.search(
        r"\b(?:ese|esa|este|eso|esto|el mismo|la misma|aquel|aquella)\b(?! (?:mas|menos))|"
        r"\besta\b(?! (?:disponible|disponibles|agotad[oa]|en |de |rebajad[oa]|bien|mal|a |al |incluid[oa]|list[oa]|"
        r"el |la |los |las |muy|tan|mas|menos))|"
        r"\b(?:lo|la|los|las) (?:quiero|compro|llevo|anado|añado|pido|reservo|tienes|teneis|tienen|hay)\b|"
        r"\b(?:el|la|los|las|lo) que (?:queda|quedan|hay)\b|"
        r"\b(?:anad|agreg|met|pon|compr|quit|reserv|llev|sac|elimin|dam|guard|envi|apunt)\w*?(?:me|te)?(?:lo|la|los|las)\b",
        folded,
    )
    if verb_esta and demonstrative and demonstrative.group(0) == "esta":
        return None
    return demonstrative


def _variant_words(folded: str) -> list[str]:
    """Words that pick a version: a colour, "256 GB", "talla 42", "55 pulgadas", or a bare "¿y en 128?"."""
    said = (
        [colour for w in re.findall(r"\b(?:en|de|color|los|las) (\w+)", folded) if (colour := colour_of(w)) is not None]
        + [m.replace(" ", "") for m in re.findall(r"\b\d{2,4} ?(?:gb|tb)\b|\btalla \d{2}\b", folded)]
        + re.findall(r"\b(\d{2,3}) ?(?:pulgadas|\")", folded)  # "¿y la de 55 pulgadas?" (names write 55")
    )
    return said or re.findall(r"^(?:y )?(?:en|de|el de|la de|la|el) (\d{2,4})$", folded)


def _set_aside(result: Plan, rest: str) -> str:
    """Take out what is not product words and note it: a minimum size, an infinitive purpose, an offer word."""
    minimum = _AT_LEAST.search(rest)
    if minimum:  # "de 55 pulgadas pa arriba": any size from 55 inches, not the 55-inch one
        result.at_least = f"{minimum.group(1) or minimum.group(3)} {minimum.group(2) or minimum.group(4)}"
        rest = rest[: minimum.start()] + " " + rest[minimum.end() :]
    # "para hacerlo al horno", "para hacer medialunas", "para jugar en familia": what it is for, not what it is
    result.purpose_said = " ".join(m.group(0) for m in _INFINITIVE_PURPOSE.finditer(rest))
    rest = _INFINITIVE_PURPOSE.sub(" ", rest)
    result.on_sale = bool(offer_words().search(rest))  # data/lexicon/offers.json: never product words
    return offer_words().sub(" ", rest)


def _purpose_and_feature(
    result: Plan, folded: str, query: str, categories: dict[str, str] | None, attribute_keys: frozenset[str]
) -> str:
    """Note a purpose ("para correr") and a feature asked ("¿cuántas pulgadas?"); return the query without them."""
    purpose = purpose_of(folded)
    result.gift = is_gift(folded)
    if purpose is not None:
        result.purpose, result.purpose_words = purpose[0], purpose[2]
        result.purpose_kinds = [categories[k] for k in purpose[1] if categories and k in categories]
        if result.purpose_kinds and purpose[3]:  # "para correr": the kind says it; the words stay out of the search
            query = " ".join(w for w in query.split() if w != purpose[0] and w not in ("salir", "ir", "hacer"))
    feature = feature_of(folded, attribute_keys)
    if feature is not None:
        # "¿de cuántas pulgadas es?": the words asked about the product in focus, not for a search
        result.feature = asdict(feature)
        query = leftover_words(query, feature)
        if not query:
            result.is_reference = True
    return query


_THEIR_DIFFERENCES = re.compile(
    r"\b(?:en )?que se diferencian\b|\bque diferencias? (?:hay|tienen)\b(?! (?:con|entre el|entre la))|"
    r"\bcual es la diferencia\b(?! (?:con|entre el|entre la))"
)


def _refer_by_number(
    result: Plan, query: str, numbered: str, products: list[ProductFact], focus: ProductFact | None
) -> str:
    """The shown version whose name has the number said ("me quedo la de 8": 8 GB), or those that do.

    The product talked about wins when it carries the number ("¿el de 16 trae Windows?" ... "me llevo el de 16").
    The number is never a search word nor a count. Returns the query left.
    """
    number = numbered.split()[-1]
    fitting = references.with_number(number, products)
    if len(fitting) != 1 and focus is not None and references.with_number(number, [focus]):
        fitting = [focus]
    if len(fitting) == 1:
        result.references, result.is_reference = fitting, True
    elif len(fitting) > 1:
        result.candidates, result.is_reference = fitting, True
    return " ".join(w for w in query.split() if w != number)


def _refer_in_play(result: Plan, query: str, folded: str, products: list[ProductFact]) -> str:
    """Which of the products shown the words name ("la Spigen", "el caro", "la con sal"); returns the query left."""
    result.references = named_in_play(query, products)
    result.is_reference = result.is_reference or bool(result.references)
    by_price = _BY_PRICE.search(folded)
    if not result.references and by_price and len(products) >= 2:
        # "¿y el caro friega también?": the dear one of those shown, and a question about it
        picked = named_in_play(by_price.group(0), products)
        if len(picked) == 1:
            result.references, result.is_reference = picked, True
            query = " ".join(w for w in query.split() if w not in by_price.group(0).split())
    if not result.references and not result.candidates:
        # "¿cuánto sale la con sal?" when two of those shown are "con sal": both, said apart
        fitting = references.narrow(references.read(query), products)
        if 1 < len(fitting) < len(products):
            result.candidates = fitting
            result.is_reference = True
    return query


def _read_kind(result: Plan, query: str, folded: str, categories: dict[str, str]) -> None:
    """The category or kind of product the words name, if any."""
    # in a question about features, the words that asked ("¿cuál tiene más almacenamiento?") name no kind
    source = query if result.feature else folded
    result.category = find_category(source, categories, loose=False)
    if result.category and len(set(query.split()) - set(words(result.category))) > 1:
        # "bebida de soja con chocolate Hacendado" names a product, not the category "Chocolate"
        result.category = None
    result.kind = result.category or find_category(source, categories, loose=True)
    if result.kind and not result.category and only_kind_words(query):
        result.category = result.kind  # the words name a kind of product and nothing else


# Everyday words for kinds of product -> the subcategory a shop files them under (folded), from
# data/lexicon/kinds.json. Used only when the catalogue has that subcategory.
CATEGORY_WORDS = kind_words()


_KIND_STEMS = {stem(w) for w in CATEGORY_WORDS if " " not in w}
_COLOUR_BY_STEM = {stem(c): c for c in reversed(COLOURS)}  # the first spelling listed (masculine) wins


def find_category(folded: str, categories: dict[str, str], *, loose: bool) -> str | None:
    """The catalogue category a message names: exactly, or (loose) by singular/plural stem or everyday word.

    Only an exact name is safe as a search filter; the loose reading ("portátil" -> Portátiles, "tele" ->
    Televisores) narrows "the cheapest/dearest of a kind", where a product merely called "portátil" (a speaker)
    must not win.
    """
    exact = _alternation(tuple(categories)).search(folded)
    if exact:
        return categories[exact.group(0)]
    if not loose:
        return None
    everyday = _alternation(tuple(w for w, sub in CATEGORY_WORDS.items() if sub in categories)).search(folded)
    if everyday:
        return categories[CATEGORY_WORDS[everyday.group(0)]]
    stems_in = {stem(w) for w in folded.split()}
    for name_folded, name in categories.items():
        if " " not in name_folded and stem(name_folded) in stems_in:
            return name
    for word, sub in CATEGORY_WORDS.items():  # "los taladros" -> Taladros y atornilladores
        if " " not in word and sub in categories and stem(word) in stems_in:
            return categories[sub]
    return None


@lru_cache(maxsize=64)
def _alternation(names: tuple[str, ...]) -> re.Pattern[str]:
    """One compiled regex for a set of names, longest first (so "pienso para perros" beats "perros")."""
    if not names:
        return re.compile(r"(?!x)x")
    ordered = sorted(names, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(n) for n in ordered) + r")\b")


def colour_of(word: str) -> str | None:
    """The catalogue spelling of a colour word in any gender or number ("negras" -> "negro")."""
    if word in COLOURS:
        return word
    return _COLOUR_BY_STEM.get(stem(word))


def kind_word(word: str) -> bool:
    """An everyday word for a kind of product ("celulares", "notebooks", "teles")."""
    return word in CATEGORY_WORDS or word.rstrip("s") in CATEGORY_WORDS or stem(word) in _KIND_STEMS


def only_kind_words(query: str) -> bool:
    """Whether every product word is an everyday word for a kind of product ("móviles", "teles baratas" no)."""
    words = query.split()
    return bool(words) and all(w in CATEGORY_WORDS or stem(w) in _KIND_STEMS for w in words)


def _names_other_than(query: str, focus: ProductFact, variant_words: list[str]) -> bool:
    """Whether a word of the query (not a version word) is foreign to the product in focus.

    "la Spigen" after the Apple case names the Spigen one, so "añádela" is not about the Apple case.
    """
    name = {stem(w) for w in fold(focus.get("name", "")).split()}
    versions = {stem(w) for v in variant_words for w in v.split()}
    words = [w for w in query.split() if not w.isdigit() and colour_of(w) is None and w not in ("talla", "gb", "tb")]
    return any(stem(w) not in name and stem(w) not in versions for w in words)


_PICK = re.compile(r"\b(?:me quedo con|me llevo|quiero|prefiero|elijo|anad\w*|agreg\w*|met\w*|pon\w*)\b")


def named_in_play(query: str, products: list[ProductFact], *, latest: bool = False) -> list[ProductFact]:
    """The products on the table the query's words describe ("me quedo con la Spigen", "la negra", "el barato").

    Among the products in play a singular description must fit one of them; among those seen earlier
    (`latest`, newest first), the most recent fit wins.
    """
    phrase = references.read(query)
    if len(phrase.words) > 4:
        return []
    if latest:
        fitting = [p for p in products if references.fits(phrase, p)] if not phrase.empty() else []
        if phrase.cheap or phrase.dear or phrase.big or phrase.small or phrase.plain:
            return references.pick(phrase, fitting)[:1]  # "la pequeña de Hacendado" among those seen
        return fitting[:1]
    return references.pick(phrase, products)


def names_new_product(query: str) -> bool:
    """Whether the leftover words name a product of their own (then "ese" is not about the last one)."""
    tokens = query.split()
    meaningful = [
        w
        for i, w in enumerate(tokens)
        if (w not in COLOURS and not re.fullmatch(r"\d+(gb|tb)?|talla|gb|tb", w))
        # a model number right after a name word counts: "iphone 15", "galaxy s24" (not "negro 128", "talla 42")
        or (w.isdigit() and i > 0 and tokens[i - 1].isalpha() and tokens[i - 1] not in (*COLOURS, "talla"))
    ]
    return len(meaningful) >= 2
