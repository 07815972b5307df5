"""A customer's query, analysed once: later stages (search, router, cache) share its tokens and its vector."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from vectorstore.embeddings import Embedder
from vectorstore.text import char_ngrams, normalise_query, stem, words


@dataclass(eq=False)
class Query:
    """Lazily computed views of one query text; the embedding is computed at most once per request."""

    text: str
    embedder: Embedder | None = field(default=None, repr=False)

    @cached_property
    def normalised(self) -> str:
        return normalise_query(self.text)

    @cached_property
    def words(self) -> list[str]:
        return words(self.text)

    @cached_property
    def stems(self) -> list[str]:
        return [stem(w) for w in self.words]

    @cached_property
    def trigrams(self) -> list[str]:
        return char_ngrams(self.text)

    @cached_property
    def vector(self) -> np.ndarray:
        if self.embedder is None:
            raise RuntimeError("this Query has no embedder")
        # The model reads accents and case, so it gets the text as typed (trimmed), not the folded form.
        return self.embedder.query_vector(" ".join(self.text.split()))
