"""Spanish text normalisation for keyword search: accent folding, tokens, stems, character n-grams.

Customers type without accents, with typos, in Spain's and Latin America's words; the catalogue is written
properly. Everything is folded to lower-case ASCII before comparing, and stems (Snowball Spanish) let "zapatillas"
find "zapatilla"; character trigrams catch typos and glued words ("hidroalcoholico" vs "hidro-alcohólico").
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer  # PyStemmer: C Snowball stemmers

_WORD = re.compile(r"[a-z]+|[0-9]+")
_COMPOUND = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)+")
_MIXED = re.compile(r"\b(?=[a-z0-9]*[a-z])(?=[a-z0-9]*[0-9])[a-z0-9]+\b")
_ALNUM_RUNS = re.compile(r"[a-z0-9]+")
_local = threading.local()


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case and strip accents: "Cámara Rosa Ñandú" -> "camara rosa nandu"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_POSSESSIVE = re.compile(r"['’]s\b")


_PHRASE_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


def phrase_words(text: str) -> list[str]:
    """Folded words in their order, compounds whole ("coca-cola"): for finding a product's name said word for word."""
    return _PHRASE_WORD.findall(fold(text))


def words(text: str) -> list[str]:
    """Folded word tokens, plus glued forms of hyphenated compounds and letter-digit tokens ("128gb")."""
    folded = _POSSESSIVE.sub("s", fold(text))  # "Hellmann's" is one word, not "hellmann" and "s"
    tokens = _WORD.findall(folded)
    tokens += [c.replace("-", "") for c in _COMPOUND.findall(folded)]
    tokens += _MIXED.findall(folded)
    return tokens


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:  # PyStemmer objects are not thread-safe: one per thread
        stemmer = _local.stemmer = Stemmer.Stemmer("spanish")
    return stemmer


@lru_cache(maxsize=262144)
def stem(word: str) -> str:
    """Snowball Spanish stem of an already folded word."""
    return str(_stemmer().stemWord(word))


def stems(text: str) -> list[str]:
    """The keyword-index terms of a text."""
    return [stem(w) for w in words(text)]


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """Character n-grams of each folded word, padded with spaces so word starts and ends count."""
    grams: list[str] = []
    for word in _ALNUM_RUNS.findall(fold(text)):
        padded = f" {word} "
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def normalise_query(text: str) -> str:
    """One spelling per question: folded, single-spaced; the key for caches of query work."""
    return " ".join(_ALNUM_RUNS.findall(fold(text)))


_UNIT_PHRASES = [
    (re.compile(r"\blitro y medio\b"), "1,5 l"), (re.compile(r"\bkilo y medio\b"), "1,5 kg"),
    (re.compile(r"\bmedio litro\b"), "500 ml"), (re.compile(r"\bmedio kilo\b"), "500 g"),
    (re.compile(r"\bcuarto de kilo\b"), "250 g"), (re.compile(r"\bcuarto de litro\b"), "250 ml"),
    (re.compile(r"\b(?:de|un|el|la) (kilo|litro)\b"), r"1 \1"),
    (re.compile(r"(\d)\s*(?:kilos|kilo|kilogramos|kilogramo|kgs)\b"), r"\1 kg"),
    (re.compile(r"(\d)\s*(?:litros|litro|lts|lt)\b"), r"\1 l"),
    (re.compile(r"(\d)\s*(?:gramos|gramo|grs|gr)\b"), r"\1 g"),
    (re.compile(r"(\d)\s*(?:mililitros|mililitro)\b"), r"\1 ml"),
    (re.compile(r"(\d)\s*(?:centilitros|centilitro)\b"), r"\1 cl"),
    (re.compile(r"\b1 kilo\b"), "1 kg"), (re.compile(r"\b1 litro\b"), "1 l"),
    (re.compile(r"(?<![\d ])\s*\b(litro|kilo)\b"), r" 1 \1"), (re.compile(r"\b1 kilo\b"), "1 kg"),
    (re.compile(r"\b1 litro\b"), "1 l"),
]  # fmt: skip


def normalise_units(folded: str) -> str:
    """Measures as catalogues write them: "medio litro" -> "500 ml", "2 kilos" -> "2 kg", "de litro" -> "1 l"."""
    for pattern, replacement in _UNIT_PHRASES:
        folded = pattern.sub(replacement, folded)
    return folded
