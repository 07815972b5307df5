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


def words(text: str) -> list[str]:
    """Folded word tokens, plus glued forms of hyphenated compounds and letter-digit tokens ("128gb")."""
    folded = fold(text)
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
