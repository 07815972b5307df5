"""The shop's policies, searchable: which passage of which section answers "¿cuánto cuesta el envío a Canarias?".

Passages (list items, or the sentences of a paragraph) are ranked with the same ingredients as product search —
BM25 over Spanish stems and character trigrams, fused with the embedder's similarity — and the best section's
best passages are quoted with its title. A question none of them really answers (too few of its words appear,
and the meaning is not close) is reported as not covered, so the agent says so instead of quoting something else.
The document is re-read when its file changes: `python -m manage policies FILE` takes effect without a restart.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.lexicon import load as load_lexicon
from data.policies import PoliciesError, Section, read
from data.shipping import PickupPoint, ShippingRate, payment_text, pickup_points, shipping_rates
from vectorstore.embeddings import Embedder
from vectorstore.lexical import BM25Index
from vectorstore.text import char_ngrams, fold, stem, words

log = logging.getLogger(__name__)

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÑ¿¡(])")
COVERED = 0.62  # fused score a passage needs to count as an answer
RELATED = 0.45  # below it, the best passage is not even about the question's topic
CONTACT_TITLE = "contacto"


@dataclass(frozen=True)
class Passage:
    """A quotable piece of the document and the section it belongs to."""

    section: str
    text: str
    order: int  # position in the document, to quote passages in the owner's order


@dataclass(frozen=True)
class PolicyAnswer:
    """The passages that answer a question best, from one section, and how well they answer it."""

    section: str
    passages: tuple[str, ...]
    score: float
    coverage: float  # share of the question's words the best passage answers

    @property
    def covered(self) -> bool:
        """The document answers the question itself (not only something near it)."""
        return self.coverage >= 0.999 or (self.coverage >= 0.5 and self.score >= COVERED)

    @property
    def related(self) -> bool:
        """The document says something about the question's topic, if not the question itself."""
        return self.coverage > 0 and self.score >= RELATED


def _units(section: Section) -> list[str]:
    """Passages short enough to quote: list items whole, paragraphs by sentence."""
    out: list[str] = []
    for passage in section.passages:
        parts = SENTENCE.split(passage) if len(passage) > 220 else [passage]
        out.extend(p.strip() for p in parts if p.strip())
    return out


def content_stems(text: str, ignore: frozenset[str]) -> list[str]:
    """Stems of the words that carry the topic ("¿cuánto cuesta el envío?" -> "envi")."""
    return [s for s in (stem(w) for w in words(text)) if s not in ignore and len(s) > 1]


class _Index:
    """One version of the document, searchable."""

    def __init__(self, sections: list[Section], embedder: Embedder | None, ignore: frozenset[str]) -> None:
        self.sections = sections
        self.ignore = ignore
        self.passages: list[Passage] = []
        for section in sections:
            for text in _units(section):
                self.passages.append(Passage(section.title, text, len(self.passages)))
        docs = [f"{p.section}. {p.section}. {p.text}" for p in self.passages]
        self.words = BM25Index([content_stems(d, ignore) for d in docs])
        self.titles = BM25Index([content_stems(p.section, ignore) for p in self.passages])
        self.trigrams = BM25Index([char_ngrams(d) for d in docs])
        self.embedder = embedder
        self.dense = embedder.document_vectors(docs) if embedder is not None and docs else None

    def rank(self, question: str, topics: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(score, share of the question's words answered) for every passage.

        Each content word of the question counts once, present when it or one of its topic words ("abrís" ->
        "horario") is in the passage.
        """
        groups: list[set[str]] = []
        folded = f" {' '.join(words(question))} "
        for phrase in (t for t in topics if " " in t and f" {t} " in folded):
            # "¿y a plazos?" is about paying ("pago", "meses"), not the "plazos de entrega": the phrase's own words
            # are not searched, only what it means
            folded = folded.replace(f" {phrase} ", " ")
            groups.append(set(content_stems(" ".join(topics[phrase]), self.ignore)))
        for word in folded.split():
            own = content_stems(word, self.ignore)
            if own and not any(own[0] in g for g in groups):
                groups.append({own[0], *content_stems(" ".join(topics.get(word, ())), self.ignore)})
        n = len(self.passages)
        if not groups or not n:
            return np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
        present = np.zeros(n, dtype=np.float32)
        in_title = np.zeros(n, dtype=np.float32)
        for group in groups:
            present += np.max(np.stack([self.words.coverage([t]) for t in group]), axis=0)
            in_title += np.max(np.stack([self.titles.coverage([t]) for t in group]), axis=0)
        coverage = present / len(groups)
        titled = np.minimum(in_title, 1.0)  # the question names the section's topic ("horario", "garantía")
        terms = [t for g in groups for t in g]
        keyword = _unit(self.words.scores(terms))
        semantic = np.zeros(n, dtype=np.float32)
        if self.dense is not None and self.embedder is not None:
            semantic = self.dense @ self.embedder.query_vector(" ".join(question.split()))
        score = 0.5 * coverage + 0.2 * keyword + 0.3 * semantic + 0.15 * titled
        return score.astype(np.float32), coverage

    def contact(self) -> tuple[str, tuple[str, ...]] | None:
        for section in self.sections:
            if CONTACT_TITLE in fold(section.title):
                return section.title, section.passages
        return None


def _unit(scores: np.ndarray) -> np.ndarray:
    high = float(scores.max()) if scores.size else 0.0
    return scores / high if high > 0 else scores


class PolicyBook:
    """The current policies document; re-read when its file changes."""

    def __init__(self, path: Path, embedder: Embedder | None = None, lexicon_dir: Path | None = None) -> None:
        self.path = path
        self.embedder = embedder
        # "¿a qué hora abrís?" is about the "horario": the customer's words and the document's, both searched.
        vocabulary = load_lexicon("policies", lexicon_dir)
        self.topics: dict[str, list[str]] = vocabulary.get("topics", {})
        self.ignore = frozenset(stem(w) for w in vocabulary.get("ignore", []))
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._index: _Index | None = None

    def _current(self) -> _Index | None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime, stat.st_size)
        except OSError:
            return None
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    try:
                        self._index = _Index(read(self.path), self.embedder, self.ignore)
                    except PoliciesError as exc:  # a broken edit keeps the last good version answering
                        log.warning("Policies not reloaded: %s", exc)
                    self._stamp = stamp
        return self._index

    def sections(self) -> list[str]:
        index = self._current()
        return [s.title for s in index.sections] if index else []

    def answer(self, question: str, limit: int = 4) -> PolicyAnswer | None:
        """The best section's passages for the question (None when there is no document at all)."""
        index = self._current()
        if index is None or not index.passages:
            return None
        scores, coverage = index.rank(question, self.topics)
        best = int(np.argmax(scores))
        top = float(scores[best])
        section = index.passages[best].section
        rows = [i for i, p in enumerate(index.passages) if p.section == section and scores[i] >= 0.6 * top]
        rows = sorted(sorted(rows, key=lambda i: -scores[i])[:limit])
        return PolicyAnswer(
            section,
            tuple(index.passages[i].text for i in rows),
            round(top, 4),
            float(coverage[best]),
        )

    def shipping(self) -> list[ShippingRate]:
        """The shipping rates the document lists (data.shipping), the default destination first."""
        index = self._current()
        return shipping_rates(index.sections) if index else []

    def pickup_points(self) -> list[PickupPoint]:
        """Where orders can be collected (data.shipping), as the document lists them."""
        index = self._current()
        return pickup_points(index.sections) if index else []

    def payment(self) -> str:
        """What the shop accepts as payment, as the document words it ("" without a payment section)."""
        index = self._current()
        return payment_text(index.sections) if index else ""

    def contact(self) -> tuple[str, tuple[str, ...]] | None:
        """The section to point to when the document does not answer (its title and passages)."""
        index = self._current()
        return index.contact() if index else None
