"""BM25 over a sparse matrix: one vectorised column gather per query instead of Python loops over postings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse


class BM25Index:
    """Okapi BM25 over pre-tokenised documents; scores every document at once.

    The weight matrix stores tf·(k1+1)/(tf+k1·norm) per (document, term), so a query is the sum of its terms'
    columns times their idf. k1 and b were tuned on the ESCI train/val queries (see evals/retrieval.py).
    """

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = 0.9, b: float = 0.4) -> None:
        self.size = len(documents)
        self.vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        lengths = np.zeros(self.size, dtype=np.float64)
        for row, tokens in enumerate(documents):
            lengths[row] = len(tokens)
            for term, tf in Counter(tokens).items():
                column = self.vocabulary.setdefault(term, len(self.vocabulary))
                rows.append(row)
                cols.append(column)
                tfs.append(tf)
        avg = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        row_idx = np.asarray(rows, dtype=np.int64)
        tf_arr = np.asarray(tfs, dtype=np.float64)
        norm = k1 * (1.0 - b + b * lengths[row_idx] / avg)
        weights = tf_arr * (k1 + 1.0) / (tf_arr + norm)
        self.matrix = sparse.csc_matrix(
            (weights.astype(np.float32), (row_idx, np.asarray(cols, dtype=np.int64))),
            shape=(self.size, len(self.vocabulary)),
        )
        self.distinct = np.maximum(np.diff(sparse.csr_matrix(self.matrix).indptr), 1).astype(np.float32)
        df = np.diff(self.matrix.indptr).astype(np.float64)
        self.idf = np.log1p((self.size - df + 0.5) / (df + 0.5)).astype(np.float32)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document (zeros when no term is known)."""
        columns = sorted({self.vocabulary[t] for t in query_tokens if t in self.vocabulary})
        if not columns or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        sub = self.matrix[:, columns]
        return np.asarray(sub @ self.idf[columns], dtype=np.float32).ravel()

    def coverage(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Share of the query's distinct terms each document contains (0..1)."""
        terms = set(query_tokens)
        columns = sorted({self.vocabulary[t] for t in terms if t in self.vocabulary})
        if not columns or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        present = (self.matrix[:, columns] > 0).sum(axis=1)
        return (np.asarray(present, dtype=np.float32).ravel() / len(terms)).astype(np.float32)

    def covered(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Share of each document's distinct terms the query contains: "piña entera" says all of "Piña"."""
        columns = sorted({self.vocabulary[t] for t in set(query_tokens) if t in self.vocabulary})
        if not columns or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        present = np.asarray((self.matrix[:, columns] > 0).sum(axis=1), dtype=np.float32).ravel()
        return (present / self.distinct).astype(np.float32)

    def matched(self, query_tokens: Sequence[str], row: int) -> list[str]:
        """Which of the query's terms occur in document `row` (for "what matched" in results)."""
        found = []
        for term in dict.fromkeys(query_tokens):
            column = self.vocabulary.get(term)
            if column is not None:
                start, end = self.matrix.indptr[column], self.matrix.indptr[column + 1]
                if row in self.matrix.indices[start:end]:
                    found.append(term)
        return found
