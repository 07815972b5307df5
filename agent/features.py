"""Questions about a product's features: "¿de cuántas pulgadas es?", "¿viene con cargador?", "¿cuál pesa menos?".

Which attribute a question asks about comes from the vocabulary (`data/lexicon/attributes.json`) and from the
catalogue's own attribute names; the answer comes from the product's attributes, then from the sentences of its
description that speak of it. When neither says anything, the reply says so plainly and offers what is known.
Comparisons ("¿cuál tiene más almacenamiento?") read the numbers in the attribute values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from agent.language import euros, folded_words
from agent.lexicon import is_container, lexicon
from state import CatalogueItem
from tools.facts import display_name
from vectorstore.text import fold, stem, words

Direction = Literal["more", "less"]

# A question about the thing itself, not a search: "¿qué batería tiene?", "¿pesa mucho?", "¿viene con cargador?"
_ASKING = re.compile(
    r"\b(?:que|cual|cuales|cuanto|cuanta|cuantos|cuantas|como|tiene|tienen|tienes|trae|traen|lleva|llevan|viene|"
    r"vienen|es|son|pesa|pesan|mide|miden|dura|duran|aguanta|aguantan|gasta|gastan|consume|consumen|incluye|"
    r"incluyen|sirve|sirven|cabe|caben|funciona|va|puede|pueden|admite|admiten|acepta|aceptan|entra)\b"
)
_SEARCHING = re.compile(
    r"^(?:(?:hola|buenas|oye|vale|pues|y)\s+)*(?:busco|buscaba|estoy buscando|quiero|quisiera|necesito|me gustaria|"
    r"teneis|(?:tienen|tienes|tenes) (?:algun|alguna|algunos|algunas|un|una|unos|unas|el|la|los|las)\b|"
    r"hay (?:algun|alguna|un|una)|venden|vendeis|"
    r"muestrame|ensename|recomiendame|me recomiendas|que me recomiendas|dame|ponme|anade|agrega|mete)\b"
)
# Price, stock and cart questions name features only as versions ("¿cuánto cuesta el de 256 GB?").
_OTHER_QUESTION = re.compile(
    r"\bcuest(?:a|an)\b|\b(?:a|en|por) cuanto\b|\bprecios?\b|\bcuanto (?:vale|valen|sale|salen)\b|\bbarat|\bcar[oa]s?\b|\beconomic|\beuros?\b|€|"
    r"\bstock\b|\bexistencias?\b|\bqued(?:a|an)\b|\bdisponib|\bagotad|\bcarrito\b|\bcesta\b|\bpedido\b|\brecomiend|\bparecid"
)
#: Words of a feature question that never name a product ("¿pesa mucho?", "¿es normal?", "¿qué tal?").
QUESTION_FILLER = frozenset(
    [
        "tiene",
        "tienen",
        "trae",
        "traen",
        "lleva",
        "llevan",
        "viene",
        "vienen",
        "es",
        "son",
        "pesa",
        "pesan",
        "mide",
        "miden",
        "dura",
        "duran",
        "aguanta",
        "aguantan",
        "gasta",
        "gastan",
        "consume",
        "consumen",
        "incluye",
        "incluyen",
        "sirve",
        "sirven",
        "cabe",
        "caben",
        "funciona",
        "va",
        "mucho",
        "mucha",
        "poco",
        "poca",
        "bastante",
        "normal",
        "tal",
        "bien",
        "mal",
        "cuanto",
        "cuanta",
        "cuantos",
        "cuantas",
        "cual",
        "cuales",
        "que",
        "como",
        "de",
        "del",
        "el",
        "la",
        "los",
        "las",
        "lo",
        "un",
        "una",
        "con",
        "sin",
        "y",
        "o",
        "en",
        "por",
        "para",
        "mas",
        "menos",
        "mejor",
        "peor",
        "muy",
        "esos",
        "esas",
        "estos",
        "estas",
        "ese",
        "esa",
        "este",
        "esta",
        "eso",
        "esto",
        "ellos",
        "ellas",
        "le",
        "les",
        "se",
        "si",
        "no",
        "algo",
        "alguno",
        "alguna",
        "tipo",
        "numero",
    ]
)


@dataclass
class Feature:
    """What a feature question asks: attribute keys (best first), the words to look for, more/less."""

    keys: list[str]
    words: list[str]
    direction: Direction | None = None
    phrases: list[str] = field(default_factory=list)  # the customer's words that asked (removed from the search)


@dataclass(frozen=True)
class _Vocabulary:
    """The attribute vocabulary compiled: one alternation per kind of phrase, longest phrases first."""

    keys_of: dict[str, list[str]]  # phrase -> attribute keys it asks about
    phrases: re.Pattern[str]
    adjectives: dict[str, tuple[list[str], Direction, bool]]  # phrase -> (keys, direction, weak)
    adjective_pattern: re.Pattern[str]
    more: re.Pattern[str]
    less: re.Pattern[str]


def _alternation(phrases: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(set(phrases), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in ordered) + r")\b") if ordered else re.compile(r"(?!x)x")


@lru_cache(maxsize=8)
def _vocabulary(catalogue_keys: frozenset[str] = frozenset()) -> _Vocabulary:
    data = lexicon("attributes")
    keys_of: dict[str, list[str]] = {}
    for key, phrases in data.get("attributes", {}).items():
        for phrase in {key.replace("_", " "), *phrases}:
            keys_of.setdefault(phrase, []).append(key)
    for key in catalogue_keys:  # the catalogue's own attribute names ("drop") are asked by name
        if key not in keys_of and len(key) > 2:
            keys_of[key] = [key.replace(" ", "_")]
    adjectives: dict[str, tuple[list[str], Direction, bool]] = {
        k: (str(v[0]).split(","), v[1], len(v) > 2 and v[2] == "weak") for k, v in data.get("adjectives", {}).items()
    }
    return _Vocabulary(
        keys_of, _alternation(keys_of), adjectives, _alternation(adjectives),
        _alternation(data.get("more", [])), _alternation(data.get("less", [])),
    )  # fmt: skip


_COUNTED = re.compile(r"\bcuant[oa]s (\w+)(?: de \w+)? (?:trae|traen|lleva|llevan|incluye|incluyen|viene|vienen)\b")


_WHAT_YOU_HAVE = re.compile(r"\bque ((?:\w+ ){1,5})(?:teneis|tienen|tenes|tienes|hay|vendeis|venden)$")


def _lists_a_kind(folded: str, vocabulary: _Vocabulary) -> bool:
    """Whether "¿qué X tenéis?" lists a kind ("¿qué pañales de talla 4 tenéis?"), not a feature ("¿qué batería tienen?")."""
    said = _WHAT_YOU_HAVE.search(folded)
    if said is None:
        return False
    rest = vocabulary.phrases.sub(" ", said.group(1))
    return any(w not in QUESTION_FILLER and len(w) > 2 and not w.isdigit() for w in words(rest))


@lru_cache(maxsize=4096)
def feature_of(folded: str, catalogue_keys: frozenset[str] = frozenset()) -> Feature | None:
    """The feature a folded message asks about, or None when it is not a question about features.

    `catalogue_keys` are the catalogue's own attribute names ("drop", "potencia"): asking for one by its name
    is a feature question even when the vocabulary file does not list it.
    """
    folded = folded_words(folded)
    if _SEARCHING.search(folded) or not _ASKING.search(folded) or _OTHER_QUESTION.search(folded):
        return None
    vocabulary = _vocabulary(catalogue_keys)
    if _lists_a_kind(folded, vocabulary):
        return None
    keys: list[str] = []
    said: list[str] = []
    direction: Direction | None = None
    adjectives = [
        (m.group(0), *vocabulary.adjectives[m.group(0)]) for m in vocabulary.adjective_pattern.finditer(folded)
    ]
    for phrase, phrase_keys, way, weak in adjectives:
        if not weak:
            keys += phrase_keys
            said.append(phrase)
            direction = way
    for match in vocabulary.phrases.finditer(folded):
        phrase = match.group(0)
        # "el de 16 GB", "la de 55 pulgadas" name a version; "¿cuántos GB tiene?" asks
        version = re.search(r"\d\s*$", folded[: match.start()])
        if not version and not any(phrase in s for s in said):
            keys += [k for k in vocabulary.keys_of[phrase] if k not in keys]
            said.append(phrase)
    for phrase, phrase_keys, way, weak in adjectives:
        if weak and not keys:  # "la tele más grande"; not "¿cuánto pesa el grande?"
            keys += phrase_keys
            said.append(phrase)
            direction = way
    if (count := _counted(folded, said, catalogue_keys)) is not None:
        return count
    if not keys:
        return None
    if direction is None:
        if vocabulary.less.search(folded):
            direction = "less"
        elif vocabulary.more.search(folded) and re.search(r"\bcual(?:es)?\b", folded):
            direction = "more"
    said_words = {w for s in said for w in s.split()}
    content = [w for w in words(folded) if w not in QUESTION_FILLER and len(w) > 2]
    asked = [w for w in content if w in said_words]
    # "¿viene con cargador?": what comes with it is the question's object, not a product to look for
    # "¿se le puede meter una microSD?", "¿admite cápsulas?": what goes with it is the object too
    included = re.search(
        r"\b(?:viene con|vienen con|incluye|incluyen|trae|traen|lleva|llevan|admiten?|aceptan?|compatibles? con|"
        r"se le pueden? (?:meter|poner|conectar))\b(.*)$",
        folded,
    )
    if included:
        objects = [w for w in words(included.group(1)) if w not in QUESTION_FILLER and len(w) > 2]
        asked += objects
        said += objects
    return Feature(keys, asked or content, direction, said)


def _counted(folded: str, said: list[str], catalogue_keys: frozenset[str]) -> Feature | None:
    """A count asked ("¿cuántos dardos trae?"): the darts (dardos_incluidos, unidades), not a product to look for."""
    counted = _COUNTED.search(folded)
    if counted is None or any(counted.group(1) in s.split() for s in said):  # "¿cuántos GB tiene?": a feature
        return None
    noun = counted.group(1)
    keys = [k for k in sorted(catalogue_keys) if stem(noun) in {stem(w) for w in words(k.replace("_", " "))}]
    return Feature([*keys, "unidades", "cantidad"], [noun], None, [counted.group(0)])


def leftover_words(query: str, feature: Feature) -> str:
    """The product words of a feature question, without the words that asked for the feature."""
    asked = {w for p in feature.phrases for w in p.split()}
    if feature.direction:  # "la pantalla más grande": "grande" said which way, it names no product
        table = lexicon("attributes")
        asked |= {w for p in [*table.get("more", []), *table.get("less", [])] for w in str(p).split()}
    # "¿cuántos pañales trae el paquete?": the package is the product talked about, not a product called so
    return " ".join(w for w in query.split() if w not in asked and w not in QUESTION_FILLER and not is_container(w))


# --------------------------------------------------------------------------- answering from the data

_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)\s*(tb|gb|mb|kg|g|l|ml|cl|mah|w|h|horas|pulgadas|\"|cm|mm|m)?\b")
_SCALE = {"tb": Decimal(1000), "kg": Decimal(1000), "l": Decimal(1000), "cl": Decimal(10), "m": Decimal(100)}


def magnitude(value: Any) -> Decimal | None:
    """The first number of an attribute value, in a common unit ("1 TB" > "512 GB", "1,5 kg" > "900 g")."""
    match = _NUMBER.search(fold(str(value)))
    if not match:
        return None
    try:
        number = Decimal(match.group(1).replace(",", "."))
    except InvalidOperation:
        return None
    return number * _SCALE.get(match.group(2) or "", Decimal(1))


def values_of(item: CatalogueItem, keys: list[str]) -> list[tuple[str, str]]:
    """(attribute, value) of the keys asked that the product has, in the order asked."""
    attributes = {fold(k): v for k, v in (item.attributes or {}).items()}
    return [(k, str(attributes[k])) for k in keys if attributes.get(k) not in (None, "")]


def description_lines(item: CatalogueItem, feature: Feature) -> list[str]:
    """Sentences of the description that speak of what was asked ("el cargador se vende por separado")."""
    wanted = {stem(w) for w in feature.words} | {stem(w) for k in feature.keys for w in k.split("_")}
    sentences = re.split(r"(?<=[.!?])\s+", item.description or "")
    return [s.strip() for s in sentences if wanted & {stem(w) for w in words(s)}][:2]


def label(key: str) -> str:
    """An attribute key as words for the customer ("peso_kg" -> "peso kg")."""
    return key.replace("_", " ")


def ranked(items: list[CatalogueItem], feature: Feature) -> tuple[str, list[tuple[CatalogueItem, str, Decimal]]] | None:
    """The first asked attribute that several products have as a number, products sorted the asked way."""
    for key in feature.keys:
        rows = []
        for item in items:
            found = values_of(item, [key])
            amount = magnitude(found[0][1]) if found else None
            if amount is not None:
                rows.append((item, found[0][1], amount))
        if len(rows) >= 2:
            rows.sort(key=lambda r: (r[2], r[0].id), reverse=feature.direction != "less")
            return key, rows
    return None


# --------------------------------------------------------------------------- the reply


def _values_text(item: CatalogueItem, found: list[tuple[str, str]]) -> str:
    return f"{display_name(item)}: " + "; ".join(f"{label(k)}, {v}" for k, v in found[:3]) + "."


_PRIVATE_KEY = re.compile(r"price|precio|date|fecha|categor|_l\d", re.IGNORECASE)


def known_text(item: CatalogueItem, limit: int = 4) -> str:
    """A short summary of what the catalogue does say about a product."""
    shown = [
        (k, v) for k, v in (item.attributes or {}).items() if v not in (None, "") and not _PRIVATE_KEY.search(str(k))
    ]
    return "; ".join(f"{label(fold(str(k)))}, {v}" for k, v in shown[:limit])


_DIMENSION_WORDS = {
    "mass": re.compile(r"\b(?:pesa|pesan|peso|kilos?|kg|gramos|g)\b"),
    "volume": re.compile(r"\b(?:litros?|l|ml|mililitros|cl|capacidad|cabe|caben)\b"),
    "count": re.compile(r"\b(?:unidades|cuant[oa]s (?:vienen|trae|traen|lleva|llevan|hay)|piezas)\b"),
}
_UNITS_OF = {"mass": ("kg", "g"), "volume": ("l", "ml", "cl"), "count": ("ud", "uds", "unidades", "piezas")}


def measure_of(item: CatalogueItem, folded_question: str) -> str | None:
    """A weight, volume or count the question asks for, read from any attribute or the name ("660 g aprox.")."""
    for dimension, pattern in _DIMENSION_WORDS.items():
        if not pattern.search(folded_question):
            continue
        units = "|".join(_UNITS_OF[dimension])
        found = re.compile(rf"\d+(?:[.,]\d+)?\s*(?:{units})\.?(?![a-z])(?:\s*aprox\.?)?", re.I)
        for value in [*(str(v) for v in (item.attributes or {}).values()), item.name]:
            match = found.search(value)
            if match:
                return match.group(0).strip()
    return None


def about_one(item: CatalogueItem, feature: Feature, folded_question: str = "") -> str:
    """What the data says about one product's feature, or that it does not say (with its price)."""
    price = f" ({euros(item.price)})"
    found = values_of(item, feature.keys)
    if found:
        return _values_text(item, found)[:-1] + f"{price}."
    measure = measure_of(item, folded_question)
    if measure:
        return f"{display_name(item)}: {measure}{price}."
    lines = description_lines(item, feature)
    if lines:
        return f"Sobre {display_name(item)}{price}: {' '.join(lines)}"
    # "¿lleva sal?" may be answered by the name; "¿cuánto pesa la Cosori?" asks a figure, never a yes or no
    named = None if re.search(r"\bcuant[oa]s?\b", folded_question) else _said_by_name(item, feature)
    if named is not None:
        return f"{'Sí' if named else 'No'}, lo dice su nombre: {display_name(item)}{price}."
    known = known_text(item)
    return f"No tengo ese dato de {display_name(item)}{price}." + (f" Lo que sí sé: {known}." if known else "")


def _said_by_name(item: CatalogueItem, feature: Feature) -> bool | None:
    """Whether the name says the product has what was asked ("con sal": yes; "0% sal añadida": no), else None."""
    name = fold(item.name)
    asked = [w for w in feature.words if len(w) > 2]
    if not asked or not all(stem(w) in {stem(t) for t in words(name)} for w in asked):
        return None
    return not re.search(rf"\b(?:sin|0 ?%|no) (?:\w+ )?{re.escape(asked[0])}", name)


def _from_description(item: CatalogueItem, key: str) -> str | None:
    """A figure for the attribute written in the description ("un peso de 1,24 kg")."""
    pattern = re.compile(rf"\b{re.escape(label(key))}\b[^.\d]{{0,30}}(\d+(?:[.,]\d+)?\s*[a-zA-Z\"]{{0,8}})", re.I)
    match = pattern.search(fold(item.description or ""))
    return match.group(1).strip() if match else None


def _figure(item: CatalogueItem, key: str) -> tuple[str, Decimal] | None:
    found = values_of(item, [key])
    value = found[0][1] if found else _from_description(item, key)
    amount = magnitude(value) if value else None
    return (value, amount) if value and amount is not None else None


def about_several(items: list[CatalogueItem], feature: Feature, question: str = "") -> tuple[str, CatalogueItem | None]:
    """A comparison when one was asked (and the numbers allow it), else each product's value; and the winner."""
    if feature.direction is not None:
        for key in feature.keys:
            rows = [(item, *figure) for item in items if (figure := _figure(item, key)) is not None]
            if not rows:
                continue
            rows.sort(key=lambda r: (r[2], r[0].id), reverse=feature.direction == "more")
            missing = [display_name(item) for item in items if all(r[0].id != item.id for r in rows)]
            top = [r for r in rows if r[2] == rows[0][2]]
            word = "más" if feature.direction == "more" else "menos"
            what = f"{word} {label(key)}" if key != "peso" else ("más peso" if word == "más" else "menos peso")
            if len(rows) == 1:
                head = f"Solo tengo ese dato de {display_name(rows[0][0])}: {label(key)}, {rows[0][1]} ({euros(rows[0][0].price)})."
            elif len(top) > 1:
                tied = ", ".join(f"{display_name(r[0])} ({euros(r[0].price)})" for r in top)
                head = f"En {label(key)} son iguales ({top[0][1]}): {tied}."
            else:
                head = f"De esos, el que tiene {what} es {display_name(top[0][0])} ({top[0][1]}, {euros(top[0][0].price)})."
            rest = rows[len(top) :][:4] if len(rows) > 1 else []
            others = [f"- {display_name(item)}: {value} ({euros(item.price)})" for item, value, _ in rest]
            lines = [head, *(["Los demás:", *others] if others else [])]
            if missing:
                lines.append(f"De {', '.join(missing[:3])} no tengo ese dato.")
            if re.search(r"\b(?:mejor|peor)\b", question) and len(items) <= 3:
                # "¿cuál tiene mejor pantalla?" is not only a number: what each sheet says about it
                said = [(item, description_lines(item, feature)) for item in items]
                lines += [f"{display_name(item)}: {' '.join(found)}" for item, found in said if found]
            return "\n".join(lines), top[0][0] if len(top) == 1 else None
    if not any(
        values_of(item, feature.keys) or description_lines(item, feature) or measure_of(item, question)
        for item in items
    ):
        what = label(feature.keys[0]) if feature.keys else " ".join(feature.words)
        return f"No tengo ese dato ({what}) de ninguno de ellos en la ficha.", None
    lines = [f"- {about_one(item, feature, question)}" for item in items[:5]]
    return "\n".join(lines), None


# --------------------------------------------------------------------------- price per kilo, litre or unit

_PER_UNIT = re.compile(
    r"\bpor (kilo|kg|litro|l|unidad|ud|panal|lata|botella|bolsita|capsula|rollo|lavado|toallita|pieza|huevo|brick|"
    r"sobre|yogur|bote)s?\b|\b(?:el|al) (kilo|litro)\b"
)
_VALUE_WORDS = re.compile(r"\bbarat|\bconviene|\bcuenta\b|\bsale\b|\bprecio|\bcuesta|\beconomic|\brinde|\bcompensa")
_PACK = re.compile(r"(\d+)\s*(?:[a-z]+\s+)?x\s*(\d+(?:[.,]\d+)?)\s*(kg|g|l|ml|cl)\b")
_AMOUNT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(kg|g|l|ml|cl)(?![a-z])")
_COUNT = re.compile(r"(\d+)\s*(?:ud|uds|unidades|panales|latas|botellas|bricks|sobres|capsulas|rollos|lavados|"
                    r"toallitas|piezas|huevos|yogures|bolsitas)\b|\bpack (?:de )?(\d+)\b|^(\d+)\s+x\b")  # fmt: skip
_PER = {"mass": (Decimal(1000), "kg"), "volume": (Decimal(1000), "L"), "count": (Decimal(1), "unidad")}


def per_unit_of(folded: str) -> str | None:
    """The dimension of a "which is cheaper per kilo / litre / unit" question ("mass", "volume", "count")."""
    match = _PER_UNIT.search(folded)
    if not match or not _VALUE_WORDS.search(folded):
        return None
    unit = match.group(1) or match.group(2)
    return "mass" if unit in ("kilo", "kg") else "volume" if unit in ("litro", "l") else "count"


def _base(amount: str, unit: str) -> tuple[str, Decimal]:
    value = Decimal(amount.replace(",", "."))
    if unit in ("kg", "l"):
        value *= 1000
    elif unit == "cl":
        value *= 10
    return ("mass" if unit in ("kg", "g") else "volume"), value


_RANGE = re.compile(r"\d+(?:[.,]\d+)?\s*(?:-|–|a)\s*\d+(?:[.,]\d+)?\s*[a-z]+")


def content_of(item: CatalogueItem, dimension: str) -> Decimal | None:
    """How much product there is (g, ml or units) according to the name and the attributes."""
    texts = [fold(str(v)) for v in (item.attributes or {}).values()] + [fold(item.name)]
    # "para perros de 10-25 kg", "(6–10 kg)": a range says who it is for, never how much is inside
    texts = [_RANGE.sub(" ", t) for t in texts]
    for text in texts:
        if dimension == "count":
            match = _COUNT.search(text)
            if match:
                return Decimal(next(g for g in match.groups() if g))
            continue
        pack = _PACK.search(text)
        if pack:
            kind, each = _base(pack.group(2), pack.group(3))
            if kind == dimension:
                return each * int(pack.group(1))
        for amount, unit in _AMOUNT.findall(text):
            kind, value = _base(amount, unit)
            if kind == dimension and value > 0:
                return value
    return None


def per_unit_text(items: list[CatalogueItem], dimension: str) -> tuple[str, CatalogueItem | None]:
    """The products in play by price per kilo, litre or unit, cheapest first (those without the data said)."""
    scale, unit = _PER[dimension]
    rows = []
    for item in items:
        content = content_of(item, dimension)
        if content:
            rows.append((item, (Decimal(item.price) * scale / content).quantize(Decimal("0.01"))))
    if not rows:
        return f"No tengo el contenido de esos productos para calcular el precio por {unit}.", None
    rows.sort(key=lambda r: (r[1], r[0].id))
    lines = [f"- {display_name(item)}: {euros(item.price)} → {euros(each)} por {unit}" for item, each in rows[:6]]
    missing = [display_name(i) for i in items if all(r[0].id != i.id for r in rows)]
    head = f"Sale más a cuenta {display_name(rows[0][0])}: {euros(rows[0][1])} por {unit}."
    tail = [f"De {', '.join(missing[:3])} no tengo el contenido."] if missing else []
    return "\n".join([head, *lines, *tail]), rows[0][0]


def differences(a: CatalogueItem, b: CatalogueItem) -> str:
    """What sets two products apart, attribute by attribute (the shared ones are left out)."""
    first, second = (a.attributes or {}), (b.attributes or {})
    keys = [k for k in dict.fromkeys([*first, *second]) if not _PRIVATE_KEY.search(str(k))]
    rows = [
        f"- {label(fold(str(k)))}: {first.get(k, 'sin dato')} / {second.get(k, 'sin dato')}"
        for k in keys
        if str(first.get(k, "")) != str(second.get(k, ""))
    ]
    if not rows:
        return "En la ficha no hay otras diferencias entre los dos."
    return "\n".join([f"En qué se diferencian ({display_name(a)} / {display_name(b)}):", *rows[:8]])


_PACK_ASKED = re.compile(r"\bpacks?\b|\blotes?\b")
_LOOSE_ASKED = re.compile(r"\bsuelt[oa]s?\b|\bpor separado\b|\buno a uno\b|\bindividual(?:es)?\b|\bahorr")


def asks_pack_vs_loose(folded: str) -> bool:
    """Whether a message weighs a pack against single units ("¿me ahorro algo con el pack?")."""
    return bool(_PACK_ASKED.search(folded) and _LOOSE_ASKED.search(folded))


def pack_vs_loose(items: list[CatalogueItem], folded: str) -> tuple[str, CatalogueItem] | None:
    """The pack against as many single units, to the cent ("¿el pack de 6 sale más barato que 6 sueltos?")."""
    if not asks_pack_vs_loose(folded):
        return None
    counts = {int(n) for n in re.findall(r"\b(\d+)\b", folded)}
    for pack in items:
        found = next((m for v in (*pack.attributes.values(), pack.name) if (m := _PACK.search(fold(str(v))))), None)
        if found is None or (counts and int(found.group(1)) not in counts):
            continue
        count, (dimension, each) = int(found.group(1)), _base(found.group(2), found.group(3))
        singles = [i for i in items if i.id != pack.id and content_of(i, dimension) == each]
        if not singles:
            continue
        single = min(singles, key=lambda i: (i.price, i.id))
        loose = Decimal(single.price) * count
        saved = loose - Decimal(pack.price)
        verdict = (
            f"Con el pack te ahorras {euros(saved)}." if saved > 0
            else "Sale igual: no hay diferencia de precio." if saved == 0
            else f"Sueltos te salen {euros(-saved)} más baratos."
        )  # fmt: skip
        return (
            f"El pack ({display_name(pack)}) cuesta {euros(pack.price)}; {count} sueltos ({display_name(single)}, "
            f"a {euros(single.price)} cada uno) serían {euros(loose)}. {verdict}",
            pack,
        )
    return None
