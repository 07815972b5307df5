"""Hybrid product search: BM25 over stems and character trigrams, fused with dense (FAISS) similarity.

Fusion is a convex combination of min-max normalised scores; its weights and the BM25 parameters were tuned on
the ESCI train/val queries only (`python -m evals retrieval esci` reports the held-out test split). Exact SKU
matches rank first, then products of a brand named in the query; filters (category, brand, price range, in
stock) narrow the candidates before scoring, so they never drop good matches from a short list.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

import numpy as np

from state import CatalogueItem, SearchFilters, SearchHit
from vectorstore.embeddings import Embedder
from vectorstore.lexical import BM25Index
from vectorstore.query import Query
from vectorstore.store import ProductVectorStore, text_hash
from vectorstore.text import char_ngrams, fold, phrase_words, stem, stems, words

log = logging.getLogger(__name__)

SKU_BONUS = 10.0
BRAND_BONUS = 1.0
NAME_BONUS = 2.0  # the query is a product's whole name ("Tomate frito Hacendado"), not just near it
# ...and in the name's own word order: "Cerveza Shandy sabor limón Steinburg" is not "Cerveza Shandy Steinburg sabor
# limón", another product with the same words.
ORDER_BONUS = 0.1
# Function words left out when comparing a query with a whole name (the planner drops them from queries too).
_FUNCTION_STEMS = frozenset(stems("de del la el los las lo con y en a al para por un una"))


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


def dense_text(item: CatalogueItem) -> str:
    """What the embedder reads: name first (models weigh the start), then brand, category and description."""
    parts = [item.name]
    if item.brand and fold(item.brand) not in fold(item.name):
        parts.append(item.brand)
    parts.append(" › ".join(p for p in (item.category, item.subcategory) if p))
    if item.description:
        parts.append(item.description[:400])
    return ". ".join(p for p in parts if p)


def keyword_text(item: CatalogueItem) -> str:
    """What BM25 reads: the name twice (it says what the product is), then everything a customer may type."""
    values = " ".join(str(v) for v in item.attributes.values() if isinstance(v, str | int | float))
    return " ".join(
        [item.name, item.name, item.brand, item.category, item.subcategory, values, item.description, item.sku]
    )


_COMPATIBILITY = re.compile(r"\s(?:para|compatible con|compatibles con|for)\s", re.IGNORECASE)


def name_head(name: str) -> str:
    """The part of a name that says what the product is: "Funda ... para iPhone 15" is a case, not an iPhone."""
    return _COMPATIBILITY.split(name, maxsplit=1)[0]


def _minmax(scores: np.ndarray) -> np.ndarray:
    if scores.size == 0:
        return scores
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.zeros_like(scores)
    return (scores - low) / (high - low)


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


@dataclass(frozen=True)
class _Snapshot:
    """Immutable arrays for one catalogue revision; searches read it while a new one is being built."""

    items: list[CatalogueItem]
    ids: np.ndarray
    price_cents: np.ndarray
    stock: np.ndarray
    category: np.ndarray  # codes into `names` of the folded category, subcategory and brand, for filters
    subcategory: np.ndarray
    brand: np.ndarray
    names: dict[str, int]  # folded name -> code (0 = none)
    word_index: BM25Index
    trigram_index: BM25Index
    name_index: BM25Index  # the full name
    head_index: BM25Index  # the name up to "para ..." (what the product is)
    dense: np.ndarray  # rows aligned with `items`
    sku_rows: dict[str, int]
    name_keys: dict[frozenset[str], list[int]]  # a name's content stems -> rows with exactly that name
    categories: dict[str, str]  # folded category or subcategory (or any level of a category path) -> as written
    category_rows: dict[str, np.ndarray]  # folded level of a category path -> rows under it ("cabello" -> champús)
    attribute_keys: frozenset[str]  # folded attribute names of the catalogue ("drop", "potencia"), words spaced
    brands: dict[str, str]  # folded brand -> name as written
    brand_phrases: dict[str, list[tuple[tuple[str, ...], str]]]  # first word -> (words, folded brand)
    # Builds (or reuses, while no product's text changed: a sale must not rebuild it) the catalogue's vocabulary.
    vocabulary_loader: Callable[[], _Vocabulary] = field(repr=False, compare=False)

    def item(self, product_id: int) -> CatalogueItem | None:
        row = int(np.searchsorted(self.ids, product_id))
        return self.items[row] if row < len(self.items) and int(self.ids[row]) == product_id else None

    def version(self, product_id: int) -> str:
        """What a cached answer quoting this product depends on: its price, stock and name ("" when it is gone)."""
        item = self.item(product_id)
        if item is None:
            return ""
        return product_version(item)

    @cached_property
    def vocabulary(self) -> _Vocabulary:
        return self.vocabulary_loader()

    @cached_property
    def name_words(self) -> frozenset[str]:
        """Every word of the products' names, folded, as written (no stemming: "medias" is not "medio")."""
        return frozenset(w for i in self.items for w in words(fold(i.name)))

    @cached_property
    def full_names(self) -> dict[tuple[str, ...], list[int]]:
        """Each name as its words in order -> the rows with that name: for a name said word for word."""
        names: dict[tuple[str, ...], list[int]] = {}
        for row, item in enumerate(self.items):
            names.setdefault(tuple(phrase_words(item.name)), []).append(row)
        return names

    @cached_property
    def name_stems(self) -> frozenset[str]:
        """The stems of `name_words`, for asking whether any name uses a word in some form."""
        return frozenset(stem(w) for w in self.name_words)

    def unknown_words(self, text: str) -> list[str]:
        """Words of the text that no product uses, not even misspelt: "xbox", "huawei", "lavadoras".

        A word is known when its stem is in the catalogue, or when one catalogue word shares at least half of its
        trigrams ("samsumg", "zapatilas", "raqeta" are typos of known words).
        """
        vocabulary = self.vocabulary
        out = []
        for word in words(text):
            if len(word) < 3 or any(c.isdigit() for c in word) or stem(word) in vocabulary.stems:
                continue
            grams = char_ngrams(word)
            if grams and float(vocabulary.trigrams.coverage(grams).max(initial=0.0)) >= 0.5:
                continue
            out.append(word)
        return out

    @cached_property
    def listing_key(self) -> str:
        """A digest of everything a list of products depends on.

        Which products exist, their names, categories, prices and whether they are in stock — not the stock
        count: a sale must not retire every search answer, only those quoting the product sold.
        """
        digest = hashlib.blake2b(digest_size=12)
        for item in self.items:
            digest.update(
                f"{item.id}\x1f{item.price}\x1f{item.stock > 0:d}\x1f{item.name}\x1f{item.category}"
                f"\x1f{item.subcategory}\x1f{item.brand}\x1e".encode()
            )
        return digest.hexdigest()


@dataclass(frozen=True)
class _Vocabulary:
    """Every word of the catalogue's texts, and a trigram index over them (one document per word)."""

    words: frozenset[str]
    stems: frozenset[str]
    trigrams: BM25Index


def levels(item: CatalogueItem) -> list[str]:
    """Every level of every category path of a product ("Cabello > Champú", "Ofertas" -> Cabello, Champú, Ofertas)."""
    return [level.strip() for path in getattr(item, "categories", None) or () for level in str(path).split(" > ")]


def _category_rows(items: list[CatalogueItem]) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for row, item in enumerate(items):
        for level in dict.fromkeys(fold(level) for level in levels(item) if level):
            rows.setdefault(level, []).append(row)
    return {level: np.asarray(found, dtype=np.int64) for level, found in rows.items()}


def _vocabulary(items: list[CatalogueItem]) -> _Vocabulary:
    found: set[str] = set()
    for item in items:
        found.update(words(f"{item.name} {item.brand} {item.category} {item.subcategory} {item.description}"))
    ordered = sorted(found)
    return _Vocabulary(
        frozenset(ordered), frozenset(stems(" ".join(ordered))), BM25Index([char_ngrams(w) for w in ordered])
    )


def name_key(terms: Iterable[str]) -> frozenset[str]:
    """The content stems of a name or query, for "is this query a product's whole name"."""
    return frozenset(t for t in terms if t not in _FUNCTION_STEMS)


def _name_keys(items: list[CatalogueItem]) -> dict[frozenset[str], list[int]]:
    keys: dict[frozenset[str], list[int]] = {}
    for row, item in enumerate(items):
        key = name_key(stems(item.name))
        if key:
            keys.setdefault(key, []).append(row)
    return keys


def namesakes_of(snapshot: _Snapshot, item: CatalogueItem) -> list[CatalogueItem]:
    """Every product with exactly the same name (itself included), in catalogue order."""
    return [snapshot.items[r] for r in snapshot.name_keys.get(name_key(stems(item.name)), ())
            if fold(snapshot.items[r].name).split() == fold(item.name).split()]  # fmt: skip


def _own_label(item: CatalogueItem, label_keys: Sequence[str]) -> str:
    """The size or package of a product whose name does not say it ("Guisantes Hacendado ultracongelados" -> 1 kg)."""
    name = fold(item.name)
    values = [str((item.attributes or {}).get(k) or "").strip() for k in label_keys]
    return ", ".join(dict.fromkeys(v for v in values if v and fold(v) not in name))


_NOT_A_VARIANT = re.compile(r"price|precio|date|fecha|categor|_l\d", re.IGNORECASE)


def label_namesakes(items: Iterable[CatalogueItem], label_keys: Sequence[str] = ()) -> None:
    """Give products that share a name the attribute values that tell them apart ("Garrafa, 5 L" / "Botella, 1 L").

    A real catalogue sells one name in several sizes and packages; every answer must say which is which. The
    values are those of the attributes that differ within the group, in the catalogue's order.
    """
    groups: dict[str, list[CatalogueItem]] = {}
    for item in items:
        groups.setdefault(" ".join(fold(item.name).split()), []).append(item)
    for group in groups.values():
        if not hasattr(group[0], "variant"):
            continue
        if len(group) == 1:
            group[0].variant = _own_label(group[0], label_keys)
            continue
        keys = [
            k
            for k in dict.fromkeys(k for item in group for k in (item.attributes or {}))
            if not _NOT_A_VARIANT.search(k)
        ]
        differing = [k for k in keys if len({str((i.attributes or {}).get(k, "")) for i in group}) > 1] or keys[:2]
        for item in group:
            values = [str((item.attributes or {}).get(k, "")).strip() for k in differing]
            item.variant = ", ".join(v for v in values if v)  # type: ignore[attr-defined]


def product_version(item: CatalogueItem) -> str:
    """Changes whenever a quoted fact of the product does (price, stock, name)."""
    return hashlib.blake2b(f"{item.price}\x1f{item.stock}\x1f{item.name}".encode(), digest_size=8).hexdigest()


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
        self._snapshot: _Snapshot | None = None
        # id -> (hash, stems, 3-grams, name stems, name-head stems)
        self._tokens: dict[int, tuple[str, list[str], list[str], list[str], list[str]]] = {}
        self._lock = threading.RLock()
        self._vocabulary_cache: tuple[str, _Vocabulary] | None = None

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

    def _vocabulary_for(self, text_key: str, items: list[CatalogueItem]) -> _Vocabulary:
        cached = self._vocabulary_cache
        if cached is not None and cached[0] == text_key:
            return cached[1]
        vocabulary = _vocabulary(items)
        self._vocabulary_cache = (text_key, vocabulary)
        return vocabulary

    def snapshot(self) -> _Snapshot:
        snap = self._snapshot
        if snap is None:
            with self._lock:
                snap = self._snapshot
                if snap is None:
                    snap = self._snapshot = self._build(self.items)
        return snap

    def _build(self, current: dict[int, CatalogueItem]) -> _Snapshot:
        items = sorted(current.values(), key=lambda i: i.id)
        label_namesakes(items, self.label_keys)
        ids = np.fromiter((i.id for i in items), dtype=np.int64, count=len(items))
        word_docs, tri_docs, name_docs, head_docs = [], [], [], []
        for item in items:
            text = keyword_text(item)
            digest = text_hash(text)
            cached = self._tokens.get(item.id)
            if cached is None or cached[0] != digest:
                cached = (digest, stems(text), char_ngrams(text), stems(item.name), stems(name_head(item.name)))
                self._tokens[item.id] = cached
            word_docs.append(cached[1])
            tri_docs.append(cached[2])
            name_docs.append(cached[3])
            head_docs.append(cached[4])
        for gone in set(self._tokens) - set(current):
            del self._tokens[gone]
        text_key = hashlib.blake2b(
            "".join(f"{i.id}:{self._tokens[i.id][0]};" for i in items).encode(), digest_size=12
        ).hexdigest()

        store_ids, matrix = self.store.vectors()
        position = {int(pid): row for row, pid in enumerate(store_ids)}
        dense = np.zeros((len(items), matrix.shape[1]), dtype=np.float32)
        missing = 0
        for row, pid in enumerate(ids):
            pos = position.get(int(pid))
            if pos is None:
                missing += 1
            else:
                dense[row] = matrix[pos]
        if missing:
            log.warning("%d products have no vector yet; they rank by keywords only", missing)

        names: dict[str, int] = {"": 0}

        def codes(values: Iterable[str]) -> np.ndarray:
            return np.fromiter(
                (names.setdefault(fold(v).strip(), len(names)) for v in values), dtype=np.int32, count=len(items)
            )

        brand_phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for brand in {fold(i.brand) for i in items if i.brand}:
            phrase = tuple(words(brand))
            if phrase:
                brand_phrases.setdefault(phrase[0], []).append((phrase, brand))
        w = self.weights
        return _Snapshot(
            items=items,
            ids=ids,
            price_cents=np.fromiter((_cents(i.price) for i in items), dtype=np.int64, count=len(items)),
            stock=np.fromiter((i.stock for i in items), dtype=np.int64, count=len(items)),
            category=codes(i.category for i in items),
            subcategory=codes(i.subcategory for i in items),
            brand=codes(i.brand for i in items),
            names=names,
            word_index=BM25Index(word_docs, k1=w.k1, b=w.b),
            trigram_index=BM25Index(tri_docs, k1=w.k1, b=w.b),
            name_index=BM25Index(name_docs, k1=w.k1, b=w.b),
            head_index=BM25Index(head_docs, k1=w.k1, b=w.b),
            dense=dense,
            sku_rows={i.sku.upper(): row for row, i in enumerate(items)},
            name_keys=_name_keys(items),
            categories={fold(name): name for i in items for name in (i.category, i.subcategory, *levels(i)) if name},
            category_rows=_category_rows(items),
            attribute_keys=frozenset(fold(str(k)).replace("_", " ") for i in items for k in (i.attributes or {})),
            brands={fold(i.brand): i.brand for i in items if i.brand},
            brand_phrases=brand_phrases,
            vocabulary_loader=lambda: self._vocabulary_for(text_key, items),
        )

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

    def _mask(self, snap: _Snapshot, filters: SearchFilters) -> np.ndarray | None:
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
            mask &= snap.price_cents >= _cents(filters.price_min)
        if filters.price_max is not None:
            mask &= snap.price_cents <= _cents(filters.price_max)
        if filters.in_stock:
            mask &= snap.stock > 0
        return mask

    def _brands_in(self, snap: _Snapshot, query_words: list[str]) -> tuple[set[str], list[str]]:
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
        w = self.weights

        def restrict(values: np.ndarray) -> np.ndarray:
            return values if mask is None else values[rows]

        keyword = np.zeros(rows.size, dtype=np.float32)
        if mode in ("hybrid", "keyword"):
            word_scores = restrict(snap.word_index.scores(query.stems))
            tri_scores = restrict(snap.trigram_index.scores(query.trigrams))
            keyword = ((1 - w.trigram) * _minmax(word_scores) + w.trigram * _minmax(tri_scores)).astype(np.float32)
        semantic = np.zeros(rows.size, dtype=np.float32)
        if mode in ("hybrid", "semantic") and snap.dense.shape[0]:
            semantic = restrict(snap.dense @ query.vector)
        # Name evidence: half what the product is (name before "para ..."), half the whole name, so "galaxy s24"
        # prefers the phone to its case while "funda kindle" still prefers the Kindle's case.
        coverage = restrict(0.5 * snap.head_index.coverage(query.stems) + 0.5 * snap.name_index.coverage(query.stems))
        if mode == "hybrid":
            fused = w.semantic * _minmax(semantic) + (1 - w.semantic) * keyword
            fused = fused + w.name * coverage + w.full_name * (coverage >= 0.999)
            if w.said_name:
                fused = fused + w.said_name * restrict(snap.name_index.covered(query.stems)) * (coverage > 0)
        elif mode == "keyword":
            fused = keyword.copy()
        else:
            fused = semantic.copy()

        if mode != "semantic":
            in_order = [t for t in query.stems if t not in _FUNCTION_STEMS]
            for row in snap.name_keys.get(name_key(query.stems), ()):
                k = int(np.searchsorted(rows, row))
                if k < rows.size and rows[k] == row:
                    same_order = [t for t in stems(snap.items[row].name) if t not in _FUNCTION_STEMS] == in_order
                    fused[k] += NAME_BONUS + ORDER_BONUS * same_order
        sku_hits: set[int] = set()
        for row in self.sku_rows_in(query.text):
            k = int(np.searchsorted(rows, row))
            if k < rows.size and rows[k] == row:
                fused[k] += SKU_BONUS
                sku_hits.add(row)

        brand_hits: set[int] = set()
        brands, rest = self._brands_in(snap, query.words) if snap.brand_phrases else (set(), [])
        if brands and mode != "semantic":
            codes = [snap.names[b] for b in brands if b in snap.names]
            boosted = np.isin(restrict(snap.brand), codes)
            if rest:  # "leche hacendado": Hacendado products that are also about milk
                boosted &= restrict(snap.word_index.scores(stems(" ".join(rest)))) > 0
            fused[boosted] += BRAND_BONUS
            brand_hits = {int(r) for r in rows[boosted]}

        top = min(limit, rows.size)
        best = np.argpartition(-fused, top - 1)[:top]
        best = best[np.lexsort((snap.ids[rows[best]], -fused[best]))]
        semantic_cut = float(np.quantile(semantic, 0.95)) if mode != "keyword" and semantic.size else np.inf
        stem_to_word = dict(zip(query.stems, query.words, strict=True))

        hits = []
        for k in best:
            row = int(rows[k])
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
                    score=round(float(fused[k]), 6),
                    keyword_score=round(float(keyword[k]), 6),
                    semantic_score=round(float(semantic[k]), 6),
                    matched_terms=tuple(dict.fromkeys(stem_to_word[s] for s in matched_stems)),
                    matched_by=tuple(matched_by),
                    name_match=round(float(coverage[k]), 4),
                )
            )
        return hits

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
