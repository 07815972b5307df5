"""In-process semantic cache of answers, guarded by an entity signature and scoped to the catalogue revision.

A similarity threshold alone cannot tell "aceite de 1 L" from "aceite de 5 L" (measured: no threshold separates
near-misses from paraphrases), so an entry is only a candidate when its signature — the product words, numbers,
sizes, colours and the question's intents — is exactly the lookup's. Among candidates the nearest embedding
above `threshold` wins. An entry made at another catalogue revision is never served: a price or stock change
invalidates it. The Redis backend (issue 4) keeps this interface.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vectorstore.embeddings import Embedder


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """An answer with what it was keyed on and when it stops being valid."""

    question: str
    signature: str
    revision: int
    payload: dict[str, Any]
    vector: np.ndarray = field(repr=False)
    expires_at: float = 0.0


@dataclass(slots=True)
class CacheStats:
    """Counters for the metrics endpoint."""

    hits: int = 0
    misses: int = 0
    stale: int = 0


class SemanticCache:
    """LRU of answers; exact (question + signature) fast path, then signature-guarded nearest neighbour."""

    def __init__(self, embedder: Embedder | None, *, threshold: float = 0.80, max_entries: int = 5000) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._exact: OrderedDict[str, CacheEntry] = OrderedDict()
        self._by_signature: dict[str, list[CacheEntry]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(question: str, signature: str) -> str:
        return hashlib.blake2b(f"{question}\x1f{signature}".encode(), digest_size=16).hexdigest()

    def lookup(
        self, question: str, signature: str, revision: int, vector: np.ndarray | None = None
    ) -> dict[str, Any] | None:
        now = time.monotonic()
        with self._lock:
            entry = self._exact.get(self.key(question, signature))
            if entry is not None and self._fresh(entry, revision, now):
                self._exact.move_to_end(self.key(question, signature))
                self.stats.hits += 1
                return entry.payload
            candidates = [e for e in self._by_signature.get(signature, []) if self._fresh(e, revision, now)]
        if candidates and vector is not None:
            sims = [float(e.vector @ vector) for e in candidates]
            best = int(np.argmax(sims))
            if sims[best] >= self.threshold:
                with self._lock:
                    self.stats.hits += 1
                return candidates[best].payload
        with self._lock:
            self.stats.misses += 1
        return None

    def _fresh(self, entry: CacheEntry, revision: int, now: float) -> bool:
        if entry.revision != revision:
            self.stats.stale += 1
            return False
        return not entry.expires_at or entry.expires_at > now

    def store(
        self,
        question: str,
        signature: str,
        revision: int,
        payload: dict[str, Any],
        vector: np.ndarray,
        ttl: float | None = None,
    ) -> None:
        entry = CacheEntry(question, signature, revision, payload, vector, time.monotonic() + ttl if ttl else 0.0)
        with self._lock:
            key = self.key(question, signature)
            self._exact[key] = entry
            self._exact.move_to_end(key)
            bucket = [e for e in self._by_signature.get(signature, []) if e.question != question]
            bucket.append(entry)
            self._by_signature[signature] = bucket[-20:]
            while len(self._exact) > self.max_entries:
                _, old = self._exact.popitem(last=False)
                remaining = [e for e in self._by_signature.get(old.signature, []) if e is not old]
                if remaining:
                    self._by_signature[old.signature] = remaining
                else:
                    self._by_signature.pop(old.signature, None)

    def clear(self) -> None:
        with self._lock:
            self._exact.clear()
            self._by_signature.clear()

    def __len__(self) -> int:
        return len(self._exact)
