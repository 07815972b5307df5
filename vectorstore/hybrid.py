"""Hybrid product search: BM25 over stems and character trigrams, fused with dense (FAISS) similarity.

Fusion is a convex combination of min-max normalised scores; its weights and the BM25 parameters were tuned on
the ESCI train/val queries only (`python -m evals retrieval esci` reports the held-out test split). Exact SKU
matches rank first, then products of a brand named in the query; filters (category, brand, price range, in
stock) narrow the candidates before scoring, so they never drop good matches from a short list.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from state import CatalogueItem, SearchFilters, SearchHit
from vectorstore.embeddings import Embedder
from vectorstore.index_snapshot import FUNCTION_STEMS, Snapshot, SnapshotBuilder, cents, dense_text, name_key
from vectorstore.query import Query
from vectorstore.store import ProductVectorStore, text_hash
from vectorstore.text import fold, stems

SKU_BONUS = 10.0
BRAND_BONUS = 1.0
NAME_BONUS = 2.0  # the query is a product's whole name ("Tomate frito Hacendado"), not just near it
# ...and in the name's own word order: "Cerveza Shandy sabor limón Steinburg" is not "Cerveza Shandy Steinburg sabor
# limón", another product with the same words.
ORDER_BONUS = 0.1


@dataclass(frozen=True, slots=True)
class HybridWeights:
    """Tuned on ESCI train+val (evals/retrieval.py); see the module docstring."""

    semantic: float = 0.5  # share of the dense score in the fused score
    trigram: float = 0.35  # share of the character-trigram BM25 inside the keyword score
    name: float = 0.2  # bonus for the share of the query's terms found in the product's name
    full_name: float = 0.2  # extra bonus when the name holds every term (the exact model and version asked for)
    said_name: float = 0.1  # bonus for the share of the name's own terms the query says ("piña" -> "Piña" first)
    k1: float = 0.9
    b: float = 0.4


def _minmax(scores: np.ndarray) -> np.ndarray:
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.zeros_like(scores)
    return (scores - low) / (high - low)


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The snapshot rows a search ranks (those passing its filters), in row order."""

    rows: np.ndarray
    mask: np.ndarray | None  # None: every row (no filters), and per-row arrays are used as they are

    def restrict(self, values: np.ndarray) -> np.ndarray:
        """A per-row array of the snapshot, cut down to the candidates."""
        return values if self.mask is None else values[self.rows]

    def position(self, row: int) -> int | None:
        """Where a snapshot row is among the candidates (None: it was filtered out)."""
        k = int(np.searchsorted(self.rows, row))
        return k if k < self.rows.size and self.rows[k] == row else None


@dataclass(frozen=True, slots=True)
class _Scores:
    """Per-candidate scores of one search; `fused` is what ranks (bonuses are added to it in place)."""

    keyword: np.ndarray
    semantic: np.ndarray
    coverage: np.ndarray  # share of the query found in the name (half the head, half the whole name)
    fused: np.ndarray


def _keyword_scores(snap: Snapshot, query: Query, cands: _Candidates, w: HybridWeights, mode: str) -> np.ndarray:
    """BM25 over stems and over character trigrams, each min-max normalised, mixed by `w.trigram`."""
    keyword = np.zeros(cands.rows.size, dtype=np.float32)
    if mode in ("hybrid", "keyword"):
        word_scores = cands.restrict(snap.word_index.scores(query.stems))
        tri_scores = cands.restrict(snap.trigram_index.scores(query.trigrams))
        keyword = ((1 - w.trigram) * _minmax(word_scores) + w.trigram * _minmax(tri_scores)).astype(np.float32)
    return keyword


def _semantic_scores(snap: Snapshot, query: Query, cands: _Candidates, mode: str) -> np.ndarray:
    """Cosine similarity of the query's vector with each candidate's (zeros in keyword mode)."""
    semantic = np.zeros(cands.rows.size, dtype=np.float32)
    if mode in ("hybrid", "semantic") and snap.dense.shape[0]:
        semantic = cands.restrict(snap.dense @ query.vector)
    return semantic


def _name_coverage(snap: Snapshot, query: Query, cands: _Candidates) -> np.ndarray:
    """Name evidence: half what the product is (name before "para ..."), half the whole name.

    So "galaxy s24" prefers the phone to its case while "funda kindle" still prefers the Kindle's case.
    """
    return cands.restrict(0.5 * snap.head_index.coverage(query.stems) + 0.5 * snap.name_index.coverage(query.stems))


def _fuse(
    snap: Snapshot,
    query: Query,
    cands: _Candidates,
    w: HybridWeights,
    mode: str,
    parts: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """The ranking score before bonuses: a new array (bonuses are then added to it in place)."""
    keyword, semantic, coverage = parts
    if mode == "hybrid":
        fused = w.semantic * _minmax(semantic) + (1 - w.semantic) * keyword
        fused = fused + w.name * coverage + w.full_name * (coverage >= 0.999)
        if w.said_name:
            fused = fused + w.said_name * cands.restrict(snap.name_index.covered(query.stems)) * (coverage > 0)
        return fused
    if mode == "keyword":
        return keyword.copy()
    return semantic.copy()


def _add_name_bonus(snap: Snapshot, query: Query, cands: _Candidates, fused: np.ndarray) -> None:
    """NAME_BONUS for products whose whole name the query is, plus ORDER_BONUS when said in the name's order."""
    in_order = [t for t in query.stems if t not in FUNCTION_STEMS]
    for row in snap.name_keys.get(name_key(query.stems), ()):
        k = cands.position(row)
        if k is not None:
            same_order = [t for t in stems(snap.items[row].name) if t not in FUNCTION_STEMS] == in_order
            fused[k] += NAME_BONUS + ORDER_BONUS * same_order


def _best(snap: Snapshot, cands: _Candidates, fused: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the `limit` best candidates, best first (ties: lower product id first)."""
    top = min(limit, cands.rows.size)
    best = np.argpartition(-fused, top - 1)[:top]
    return best[np.lexsort((snap.ids[cands.rows[best]], -fused[best]))]


def _hits(
    snap: Snapshot,
    query: Query,
    cands: _Candidates,
    best: np.ndarray,
    scores: _Scores,
    bonus_hits: tuple[set[int], set[int]],
    mode: str,
) -> list[SearchHit]:
    """The ranked candidates as hits, saying why each matched (sku, brand, keyword, semantic)."""
    keyword, semantic = scores.keyword, scores.semantic
    sku_hits, brand_hits = bonus_hits
    semantic_cut = float(np.quantile(semantic, 0.95)) if mode != "keyword" and semantic.size else np.inf
    stem_to_word = dict(zip(query.stems, query.words, strict=True))
    hits = []
    for k in best:
        row = int(cands.rows[k])
        matched_stems = snap.word_index.matched(query.stems, row) if keyword[k] > 0 else []
        matched_by = []
        if row in sku_hits:
            matched_by.append("sku")
        if row in brand_hits:
            matched_by.append("brand")
        if matched_stems or (mode != "semantic" and keyword[k] > 0):
            matched_by.append("keyword")
        if mode != "keyword" and semantic[k] >= semantic_cut:
            matched_by.append("semantic")
        hits.append(
            SearchHit(
                item=snap.items[row],
                score=round(float(scores.fused[k]), 6),
                keyword_score=round(float(keyword[k]), 6),
                semantic_score=round(float(semantic[k]), 6),
                matched_terms=tuple(dict.fromkeys(stem_to_word[s] for s in matched_stems)),
                matched_by=tuple(matched_by),
                name_match=round(float(scores.coverage[k]), 4),
            )
        )
    return hits


class CatalogueIndex:
    """The searchable catalogue: active items, their keyword indexes and their vectors, kept in sync by revision.

    Writers (`apply`, `save`) run in worker threads under one lock and finish by swapping in a new immutable
    snapshot; readers only ever touch the current snapshot, so a search during an update sees the previous
    revision whole, never half of each, and never waits for embeddings.
    """

    def __init__(
        self, store: ProductVectorStore, weights: HybridWeights | None = None, label_keys: Iterable[str] = ()
    ) -> None:
        self.store = store
        self.weights = weights or HybridWeights()
        self.label_keys = tuple(label_keys)  # size/package attributes shown after every name that lacks them
        self.items: dict[int, CatalogueItem] = {}
        self.revision = 0
        self._snapshot: Snapshot | None = None
        self._builder = SnapshotBuilder(store)
        self._lock = threading.RLock()

    @property
    def embedder(self) -> Embedder:
        return self.store.embedder

    # ------------------------------------------------------------------ updates

    def apply(
        self,
        changed: Iterable[CatalogueItem],
        revision: int,
        *,
        progress: Callable[[int], None] | None = None,
        replace: bool = False,
    ) -> int:
        """Take products written since the last revision (or, with `replace`, the whole catalogue).

        Embeds only products whose indexed text changed; returns how many that was.
        """
        with self._lock:
            items = {} if replace else dict(self.items)
            hashes = self.store.hashes()
            to_embed: list[tuple[int, str]] = []
            for item in changed:
                if item.active:
                    items[item.id] = item
                    text = dense_text(item)
                    if hashes.get(item.id) != text_hash(text):
                        to_embed.append((item.id, text))
                else:
                    items.pop(item.id, None)
            # Vectors of products that are gone (deactivated, deleted rows, an older database) must not linger.
            self.store.remove([pid for pid in hashes if pid not in items])
            self.store.upsert(to_embed, progress=progress)
            snapshot = self._build(items)
            self.items, self.revision, self._snapshot = items, revision, snapshot
            return len(to_embed)

    def replace_all(
        self, items: Iterable[CatalogueItem], revision: int, *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Start over from a full list of products (start-up); vectors with unchanged text are reused."""
        return self.apply(items, revision, progress=progress, replace=True)

    def pending_embeddings(self, items: Iterable[CatalogueItem]) -> int:
        """How many of these items would need a new vector (for progress bars)."""
        with self._lock:
            hashes = self.store.hashes()
        return sum(1 for i in items if i.active and hashes.get(i.id) != text_hash(dense_text(i)))

    def reload_vectors(self) -> bool:
        """Re-read the persisted vectors (another process wrote newer ones); the next `apply` fills any gap."""
        with self._lock:
            return self.store.load()

    def save(self) -> None:
        """Persist the vectors with the revision they reflect (under the lock: FAISS is not read-safe mid-write)."""
        with self._lock:
            self.store.save(self.revision)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            with self._lock:
                snap = self._snapshot
                if snap is None:
                    snap = self._snapshot = self._build(self.items)
        return snap

    def _build(self, current: dict[int, CatalogueItem]) -> Snapshot:
        return self._builder.build(current, k1=self.weights.k1, b=self.weights.b, label_keys=self.label_keys)

    # ------------------------------------------------------------------ queries

    def sku_rows_in(self, text: str) -> list[int]:
        """Snapshot rows of the products whose SKU is written in the text (any case, with punctuation around)."""
        rows = self.snapshot().sku_rows
        found = (rows.get(t.strip("¿?¡!.;:()\"'")) for t in text.upper().replace(",", " ").split())
        return [row for row in found if row is not None]

    def canonical_category(self, name: str) -> str | None:
        """The catalogue's spelling of a category or subcategory typed in any case, with or without accents."""
        return self.snapshot().categories.get(fold(name).strip())

    def canonical_brand(self, name: str) -> str | None:
        return self.snapshot().brands.get(fold(name).strip())

    def category_names(self) -> list[str]:
        """Top-level categories of the active catalogue, as written."""
        return sorted({item.category for item in self.snapshot().items})

    def _mask(self, snap: Snapshot, filters: SearchFilters) -> np.ndarray | None:
        """Rows passing the filters; None when nothing filters (the common case, no copies then)."""
        if filters.is_empty():
            return None
        mask = np.ones(len(snap.items), dtype=bool)
        if filters.category:
            name = fold(filters.category).strip()
            code = snap.names.get(name, -1)
            inside = (snap.category == code) | (snap.subcategory == code)
            inside[snap.category_rows.get(name, np.empty(0, dtype=np.int64))] = True  # the parent finds its children
            mask &= inside
        if filters.brand:
            mask &= snap.brand == snap.names.get(fold(filters.brand).strip(), -1)
        if filters.price_min is not None:
            mask &= snap.price_cents >= cents(filters.price_min)
        if filters.price_max is not None:
            mask &= snap.price_cents <= cents(filters.price_max)
        if filters.in_stock:
            mask &= snap.stock > 0
        return mask

    def _brands_in(self, snap: Snapshot, query_words: list[str]) -> tuple[set[str], list[str]]:
        """Brands named in the query, and the query's words without them."""
        found: set[str] = set()
        rest: list[str] = []
        i = 0
        while i < len(query_words):
            for phrase, brand in snap.brand_phrases.get(query_words[i], ()):
                if tuple(query_words[i : i + len(phrase)]) == phrase:
                    found.add(brand)
                    i += len(phrase)
                    break
            else:
                rest.append(query_words[i])
                i += 1
        return found, rest

    def search(
        self,
        query: Query,
        *,
        filters: SearchFilters | None = None,
        limit: int = 10,
        mode: str = "hybrid",
    ) -> list[SearchHit]:
        """Rank active products for `query`. `mode` is hybrid, keyword or semantic (the last two for benchmarks)."""
        snap = self.snapshot()
        mask = self._mask(snap, filters or SearchFilters())
        rows = np.flatnonzero(mask) if mask is not None else np.arange(len(snap.items))
        if rows.size == 0 or limit <= 0:
            return []
        cands, w = _Candidates(rows, mask), self.weights
        keyword = _keyword_scores(snap, query, cands, w, mode)
        semantic = _semantic_scores(snap, query, cands, mode)
        coverage = _name_coverage(snap, query, cands)
        fused = _fuse(snap, query, cands, w, mode, (keyword, semantic, coverage))
        if mode != "semantic":
            _add_name_bonus(snap, query, cands, fused)
        sku_hits = self._add_sku_bonus(query, cands, fused)
        brand_hits = self._add_brand_bonus(snap, query, cands, fused, mode)
        best = _best(snap, cands, fused, limit)
        scores = _Scores(keyword, semantic, coverage, fused)
        return _hits(snap, query, cands, best, scores, (sku_hits, brand_hits), mode)

    def _add_sku_bonus(self, query: Query, cands: _Candidates, fused: np.ndarray) -> set[int]:
        """SKU_BONUS for products whose SKU the query writes; returns their rows."""
        sku_hits: set[int] = set()
        for row in self.sku_rows_in(query.text):
            k = cands.position(row)
            if k is not None:
                fused[k] += SKU_BONUS
                sku_hits.add(row)
        return sku_hits

    def _add_brand_bonus(
        self, snap: Snapshot, query: Query, cands: _Candidates, fused: np.ndarray, mode: str
    ) -> set[int]:
        """BRAND_BONUS for products of a brand the query names (and about its other words); returns their rows."""
        brands, rest = self._brands_in(snap, query.words) if snap.brand_phrases else (set(), [])
        if not brands or mode == "semantic":
            return set()
        codes = [snap.names[b] for b in brands if b in snap.names]
        boosted = np.isin(cands.restrict(snap.brand), codes)
        if rest:  # "leche hacendado": Hacendado products that are also about milk
            boosted &= cands.restrict(snap.word_index.scores(stems(" ".join(rest)))) > 0
        fused[boosted] += BRAND_BONUS
        return {int(r) for r in cands.rows[boosted]}

    def row_of(self, product_id: int) -> int | None:
        """The snapshot row of an active product."""
        snap = self.snapshot()
        k = int(np.searchsorted(snap.ids, product_id))
        return k if k < snap.ids.size and snap.ids[k] == product_id else None

    def neighbours(self, product_id: int, k: int = 10, *, filters: SearchFilters | None = None) -> list[SearchHit]:
        """Products whose vectors are closest to this product's own (for "similar products")."""
        snap = self.snapshot()
        row = self.row_of(product_id)
        if row is None:
            return []
        mask = self._mask(snap, filters or SearchFilters())
        scores = snap.dense @ snap.dense[row]
        scores[row] = -np.inf
        if mask is not None:
            scores[~mask] = -np.inf
        top = min(k, int(np.isfinite(scores).sum()))
        if top <= 0:
            return []
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.lexsort((snap.ids[best], -scores[best]))]
        return [
            SearchHit(
                item=snap.items[r],
                score=round(float(scores[r]), 6),
                semantic_score=round(float(scores[r]), 6),
                matched_by=("semantic",),
            )
            for r in best
        ]

    def by_sku(self, sku: str) -> CatalogueItem | None:
        snap = self.snapshot()
        row = snap.sku_rows.get(sku.strip().upper())
        return None if row is None else snap.items[row]

    def in_subcategories(self, names: Iterable[str]) -> list[CatalogueItem]:
        """Active items whose subcategory (folded) is one of `names`."""
        snap = self.snapshot()
        codes = [snap.names[n] for n in names if n in snap.names]
        if not codes:
            return []
        return [snap.items[r] for r in np.flatnonzero(np.isin(snap.subcategory, codes))]

    def similar(self, query: Query, k: int = 10) -> list[SearchHit]:
        """Pure vector search (the `semantic-search` endpoint): exact cosine over the snapshot's FAISS vectors."""
        snap = self.snapshot()
        if not snap.items or k <= 0:
            return []
        scores = snap.dense @ query.vector
        top = min(k, scores.size)
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.lexsort((snap.ids[best], -scores[best]))]
        return [
            SearchHit(
                item=snap.items[row],
                score=round(float(scores[row]), 6),
                semantic_score=round(float(scores[row]), 6),
                matched_by=("semantic",),
            )
            for row in best
        ]
