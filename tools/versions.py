"""Telling the versions of one model apart: "iPhone 15 128 GB Negro" and "iPhone 15 256 GB Blanco" are one model.

Heuristics over product names: the words that name the model (`model_words`), the versions that fit what the
customer said (`matching_versions`), and model numbers asked for that no product has (`unmatched_model_numbers`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from data.lexicon import load as load_lexicon
from state import CatalogueItem, SearchHit
from tools.facts import display_name
from vectorstore.text import fold, normalise_units, stem, words

_VARIANT_WORDS = {
    "gb", "tb", "kg", "g", "ml", "l", "cm", "mm", "pulgadas", "talla", "negro", "blanco", "azul", "rojo", "verde",
    "gris", "plata", "rosa", "amarillo", "morado", "beige", "marron", "de", "para", "con", "y", "el", "la", "los",
    "las", "en", "hombre", "mujer",
}  # fmt: skip


def name_tokens(text: str) -> list[str]:
    """Plain words and numbers of a name ("256gb" -> "256", "gb"), for comparing versions of a model."""
    return _TOKEN.findall(fold(text))


_TOKEN = re.compile(r"[a-z]+|[0-9]+")

_UNITS = ("gb", "tb", "kg", "g", "ml", "l", "cm", "mm", "pulgadas", "w", "mah", "uds", "unidades")


def versions_of_top(
    hits: Sequence[SearchHit], words: str, namesakes: Sequence[CatalogueItem] = ()
) -> tuple[list[CatalogueItem], list[CatalogueItem]]:
    """The versions of the top hit's model among the hits and its namesakes, and those that fit what was said."""
    if not hits:
        return [], []
    model = model_words(hits[0].item)
    versions = [h.item for h in hits if model_words(h.item) == model]
    versions += [n for n in namesakes if all(n.id != v.id for v in versions)]
    return versions, matching_versions(versions, words)


def _version_tokens(text: str) -> set[str]:
    return {t if t.isdigit() else stem(t) for t in name_tokens(normalise_units(fold(text)))}


def matching_versions(versions: Sequence[CatalogueItem], text: str) -> list[CatalogueItem]:
    """The versions of one model that fit what the customer said about the version.

    "iPhone 15 de 128 GB en negro" names one of its four versions; "iPhone 15" names none, so all of them fit.
    What tells versions apart is what their names do not share (capacity, colour, size); a version fits when it
    has every such word the customer used (negro/negros/negra alike). When none fits, all are returned: the
    customer then sees which versions exist.
    """
    if len(versions) < 2:
        return list(versions)
    tokens = {v.id: _version_tokens(display_name(v)) for v in versions}
    common = set.intersection(*tokens.values())
    distinguishing = {vid: t - common for vid, t in tokens.items()}
    asked = _version_tokens(text) & set().union(*distinguishing.values())
    fits = [v for v in versions if asked <= distinguishing[v.id]]
    return fits or list(versions)


_MEASURE = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:gb|tb|kg|g|ml|l|litros?|cm|mm|m|metros?|pulgadas|\"|w|mah|uds|unidades|tazas|euros?|€)(?!\w)"
    r"|\btalla \w+"
)


def unmatched_model_numbers(words: str, items: Sequence[CatalogueItem]) -> list[str]:
    """Model numbers the customer wrote that none of these products has: "iphone 14" answered with iPhone 15s.

    Capacities, sizes and amounts ("256 GB", "talla 45", "2 L") are versions, judged elsewhere; what is left
    ("14", "s23", "ps4") names a model, and a reply about another model must say so.
    """
    text = re.sub(r"^\s*\d{1,2}\s+(?=[a-z])", " ", fold(words))  # a leading count: "3 iphone 15"
    asked = set(re.findall(r"\d+", _MEASURE.sub(" ", text)))
    # "Pro", "Max", "Ultra" name another model too: "iPhone 15 Pro Max" answered with the iPhone 15 Pro
    asked |= set(name_tokens(text)) & _qualifiers()
    have = {t for item in items for t in name_tokens(f"{item.name} {item.sku}")}
    return sorted(asked - have)


@lru_cache(maxsize=1)
def _qualifiers() -> frozenset[str]:
    return frozenset(str(w) for w in load_lexicon("models").get("qualifiers", []))


def model_words(item: CatalogueItem) -> tuple[str, ...]:
    """The words that name the model, without sizes, capacities and colours: "iphone 15" for all its variants.

    A code in parentheses ("(OLED65C34LA)") is the maker's reference of one version, not the model's name.
    """
    name = re.sub(r"\([^)]*\)", " ", item.name)
    name = re.sub(r"(\d+(?:[.,]\d+)?)\s*(?:\"|”|'')", r"\1 pulgadas", name)  # 55" is a size, like 55 pulgadas
    tokens = words(name)
    out: list[str] = []
    for i, word in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        before = tokens[i - 1] if i else ""
        if word in _VARIANT_WORDS or before == "talla":
            continue
        if word.isdigit() and (len(word) > 2 or after in _UNITS):
            continue  # 128 (GB), 15 (kg)
        if word.endswith(_UNITS) and any(c.isdigit() for c in word):
            continue  # 128gb
        out.append(word)
    return tuple(out)
