"""The agent's vocabulary, read once from `data/lexicon/*.json` and the shop's own files (see data.lexicon).

Compiled here into what the router and the planner ask: is this a question about the shop's policies, which
catalogue word does a regional word stand for, which kind of product an everyday word or a purpose means, which
attribute a question asks about.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from data.lexicon import load
from settings import get_settings


@lru_cache(maxsize=16)
def lexicon(name: str) -> dict[str, Any]:
    """One vocabulary file, shipped entries with the shop's merged over them (folded)."""
    return load(name, get_settings().resolved_lexicon_dir)


def phrases(values: list[str]) -> re.Pattern[str]:
    """One regex for a list of folded words and phrases, longest first, on word boundaries."""
    ordered = sorted({v for v in values if v}, key=len, reverse=True)
    if not ordered:
        return re.compile(r"(?!x)x")
    return re.compile(r"\b(?:" + "|".join(re.escape(v) for v in ordered) + r")\b")


@lru_cache(maxsize=1)
def policy_cues() -> re.Pattern[str]:
    """Words that make a message a question about the shop (shipping, returns, payment, hours...)."""
    return phrases(list(lexicon("policies").get("cues", [])))


def asks_policy(folded: str) -> bool:
    """Whether a folded message asks about the shop's policies."""
    return bool(policy_cues().search(folded))


@lru_cache(maxsize=1)
def policy_topics() -> re.Pattern[str]:
    """The customer's words for a policy's topic ("Mallorca", "tarjeta", "llegue").

    On their own they say nothing; right after a policy question they continue it ("¿y si vivo en Mallorca?").
    """
    return phrases(list(lexicon("policies").get("topics", {})))


@lru_cache(maxsize=1)
def _synonyms() -> tuple[re.Pattern[str], dict[str, list[str]]]:
    table: dict[str, list[str]] = {k: list(v) for k, v in lexicon("synonyms").get("words", {}).items()}
    for phrase in [k for k in table if " " in k]:  # queries lose their "de": "crema de leche" is "crema leche" too
        short = " ".join(w for w in phrase.split() if w not in ("de", "del", "la", "el", "para", "con"))
        table.setdefault(short, table[phrase])
    plurals = [f"{w}es" if w.endswith(("l", "n", "r", "d", "z")) else f"{w}s" for w in table if " " not in w]
    return phrases([*table, *(p for p in plurals if p not in table)]), table


def catalogue_words(
    query: str, known: Callable[[str], bool], is_name: Callable[[str], bool] | None = None,
    used: Callable[[str], bool] | None = None,
) -> str:  # fmt: skip
    """The customer's words in the catalogue's: "palta" -> "aguacate", "jugo de durazno" -> "zumo de melocoton".

    A word the catalogue's names use themselves is kept (a shop selling "Banana" keeps it; `used` says so, as
    written, else `known`); a phrase is kept only when it is a product's whole name ("crema de leche" inside
    "Crema de leche y avellanas" is still "nata"). A replacement is taken only when the catalogue uses it
    (`known` says whether a folded word is in the catalogue).
    """
    pattern, table = _synonyms()
    said_used = used or known

    def swap(match: re.Match[str]) -> str:
        said = match.group(0)
        if said not in table:  # a plural of a listed word: "chupos" -> "chupo"
            said = next(s for s in (said[:-2], said[:-1]) if s in table)
        if " " not in said and said_used(said):
            return said
        if " " in said and (is_name(said) if is_name else all(known(w) for w in said.split())):
            return said
        targets = [t for t in table[said] if all(known(w) for w in t.split())]
        whole = [t for t in targets if is_name and is_name(t)]
        if whole:  # "camote": "Batata" is a product's whole name, a better reading than "batata boniato"
            return whole[0]
        return " ".join(dict.fromkeys(targets)) if targets else said  # "frutilla": "fresa freson" where both exist

    return pattern.sub(swap, query)


def is_regional(word: str) -> bool:
    """Whether a folded word is one of the synonyms table's customer words ("heladera", "palta", "frutillas")."""
    table = _synonyms()[1]
    return any(w in table for w in (word, word[:-1], word[:-2]) if w)


@lru_cache(maxsize=1)
def kind_words() -> dict[str, str]:
    """Everyday words for kinds of product -> the subcategory name (folded) a shop files them under."""
    return {k: str(v) for k, v in lexicon("kinds").get("words", {}).items()}


@lru_cache(maxsize=1)
def _spelling() -> tuple[re.Pattern[str], dict[str, str]]:
    table = {k: str(v) for k, v in lexicon("spelling").get("words", {}).items() if k != v}
    return phrases(list(table)), table


def respell(folded: str) -> str:
    """Chat spellings as the words they stand for: "kiero algo q no pase de 5" -> "quiero algo que no pase de 5"."""
    pattern, table = _spelling()
    once = pattern.sub(lambda m: table[m.group(0)], folded)
    return pattern.sub(lambda m: table[m.group(0)], once)  # "ay stok" -> "ay stock" -> "hay stock"


@lru_cache(maxsize=1)
def variant_words() -> frozenset[str]:
    """Words that only say which version ("lata", "grande", "congeladas"): data/lexicon/attributes.json."""
    return frozenset(str(w) for w in lexicon("attributes").get("variant_words", []))


@lru_cache(maxsize=1)
def _purposes() -> tuple[re.Pattern[str], dict[str, dict[str, Any]], re.Pattern[str]]:
    data = lexicon("purposes")
    table = {k: dict(v) for k, v in data.get("purposes", {}).items()}
    keys = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
    # "para correr", "para salir a trotar", "para la oficina", "para mi perro"; "running", "gaming" on their own
    pattern = re.compile(rf"\bpa(?:ra)? (?:\w+ ){{0,3}}?({keys})\b|\b(running|gaming|camping|teletrabajo)\b")
    return pattern, table, phrases(list(data.get("gift", [])))


def purpose_of(folded: str) -> tuple[str, list[str], str, bool] | None:
    """(purpose, kinds that serve it, words that describe it, said as "para ...") of "algo para correr"."""
    pattern, table, _ = _purposes()
    match = pattern.search(folded)
    if not match:
        return None
    key = match.group(1) or match.group(2)
    entry = table.get(key) or {}
    return key, [str(k) for k in entry.get("kinds", [])], str(entry.get("words", "")), bool(match.group(1))


def is_gift(folded: str) -> bool:
    """Whether the customer is buying a present ("un regalo para mi madre", "para regalarle")."""
    return bool(_purposes()[2].search(folded))


@lru_cache(maxsize=1)
def people() -> re.Pattern[str]:
    """Whom the customer speaks of ("para mi suegra", "mi viejo"): data/lexicon/fillers.json, after a possessive."""
    names = "|".join(re.escape(w) for w in sorted(lexicon("fillers").get("people", []), key=len, reverse=True))
    owners = r"mi|mis|tu|tus|su|sus|nuestro|nuestra|nuestros|nuestras|vuestro|vuestra"
    return re.compile(rf"\b(?:(?:para|a|de|con) )?(?:{owners}) (?:{names})\b" if names else r"(?!x)x")


@lru_cache(maxsize=1)
def interjections() -> re.Pattern[str]:
    """Words that pad a turn ("vale", "órale", "ah, qué pena"): data/lexicon/fillers.json."""
    return phrases(list(lexicon("fillers").get("interjections", [])))


@lru_cache(maxsize=1)
def _brands() -> dict[str, str]:
    return {k: str(v) for k, v in lexicon("synonyms").get("brands", {}).items()}


def brand_kind(words: list[str]) -> tuple[str, str] | None:
    """A brand the customer names and the kind of product it is ("gatorade" -> "bebida isotonica"), if listed."""
    table = _brands()
    for size in (3, 2, 1):
        for i in range(len(words) - size + 1):
            said = " ".join(words[i : i + size])
            if said in table:
                return said, table[said]
    return None


@lru_cache(maxsize=1)
def _loose() -> tuple[re.Pattern[str], frozenset[str]]:
    data = lexicon("attributes")
    return phrases(list(data.get("loose_words", []))), frozenset(data.get("loose_packages", []))


def loose_said(folded: str) -> re.Match[str] | None:
    """Where the customer asks for the thing sold by the piece ("3 aguacates sueltos")."""
    return _loose()[0].search(folded)


def sold_loose(attributes: dict[str, object]) -> bool:
    """Whether a product's package or size says it is sold by the piece ("Pieza", "a granel")."""
    values = {str(v).casefold().strip(" .") for v in attributes.values()}
    return any(v == p or v.startswith(f"{p} ") for v in values for p in _loose()[1])


def _plurals(words: list[str]) -> str:
    """A regex alternation of the words and their plurals ("unidad" -> unidad|unidades, "lata" -> lata|latas)."""
    forms = {f for w in words for f in (w, f"{w}es" if len(w) > 2 and w[-1] in "dlnrz" else f"{w}s")}
    return "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))


@lru_cache(maxsize=1)
def _container() -> str:
    """A container and the size that may follow it ("frascos grandes"): data/lexicon/attributes.json, as a regex."""
    table = lexicon("attributes")
    nouns = _plurals([str(w) for w in table.get("containers", [])]) or "(?!x)x"
    sizes = _plurals([str(w) for w in table.get("container_sizes", [])])
    return rf"(?:{nouns})(?: (?:{sizes}))?" if sizes else rf"(?:{nouns})"


@lru_cache(maxsize=1)
def _only_a_container() -> re.Pattern[str]:
    return re.compile(_container())


def is_container(words: str) -> bool:
    """Whether the words are only a container ("paquetes", "botellas grandes"): a count of something else."""
    return _only_a_container().fullmatch(words) is not None


@lru_cache(maxsize=1)
def container_pattern() -> str:
    """A container and the "de" after it ("bolsas de", "frascos grandes de").

    A regex fragment without anchors or groups, so the planner and the order parser each place it as they need.
    """
    return rf"{_container()} (?:de|del)\b"


@lru_cache(maxsize=1)
def package_words() -> dict[str, frozenset[str]]:
    """What customers call a package -> what catalogues call the same ("bolsa" -> paquete, malla, saco)."""
    table = lexicon("attributes").get("package_words", {})
    out: dict[str, frozenset[str]] = {}
    for word, same in table.items():
        for form in (word, f"{word}s", f"{word}es"):
            out.setdefault(form, frozenset(same))
    return out


@lru_cache(maxsize=1)
def remarks() -> re.Pattern[str]:
    """What customers say about themselves or as padding ("vivo en Valencia", "pa arriba"): never searched."""
    patterns = [str(p) for p in lexicon("fillers").get("remarks", [])]
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else re.compile(r"(?!x)x")


@lru_cache(maxsize=1)
def offer_words() -> re.Pattern[str]:
    """Words asking what is on sale ("de oferta", "rebajado", "con descuento"): data/lexicon/offers.json."""
    return phrases(list(lexicon("offers").get("words", [])))


@lru_cache(maxsize=1)
def greeting() -> re.Pattern[str]:
    """A hello at the start of a message ("hola", "buenas tardes", "qué tal"): data/lexicon/fillers.json."""
    words = sorted({str(w) for w in lexicon("fillers").get("greetings", []) if w}, key=len, reverse=True)
    return re.compile(r"^(?:" + "|".join(re.escape(w) for w in words) + r")\b") if words else re.compile(r"(?!x)x")
