"""One immutable, searchable revision of the catalogue, and how it is built.

A `Snapshot` holds the active products sorted by id with everything a search reads: filter columns, the BM25
indexes (words, trigrams, names), the dense vectors and lookup tables. `SnapshotBuilder` makes a new one per
revision, reusing the tokens of products whose text did not change; `vectorstore.hybrid` searches it.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

import numpy as np

from state import CatalogueItem
from vectorstore.lexical import BM25Index
from vectorstore.query import Query
from vectorstore.store import ProductVectorStore, text_hash
from vectorstore.text import char_ngrams, fold, phrase_words, stem, stems, words

log = logging.getLogger(__name__)

# Function words left out when comparing a query with a whole name (the planner drops them from queries too).
FUNCTION_STEMS = frozenset(stems("de del la el los las lo con y en a al para por un una"))


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


def cents(amount: Decimal) -> int:
    """A price in whole cents, for exact comparisons in filters."""
    return int(amount * 100)


@dataclass(frozen=True)
class Snapshot:
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
    vocabulary_loader: Callable[[], Vocabulary] = field(repr=False, compare=False)

    def item(self, product_id: int) -> CatalogueItem | None:
        row = int(np.searchsorted(self.ids, product_id))
        return self.items[row] if row < len(self.items) and int(self.ids[row]) == product_id else None

    def version(self, product_id: int) -> str:
        """What a cached answer quoting this product depends on: its price, stock and name ("" when it is gone)."""
        item = self.item(product_id)
        if item is None:
            return ""
        return product_version(item)

    def best_name_coverage(self, query: Query) -> float:
        """The largest share of the query's stems that one product's name holds (0..1)."""
        return float(self.name_index.coverage(query.stems).max())

    def best_trigram_coverage(self, query: Query) -> float:
        """The largest share of the query's character trigrams that one product's texts hold (typos allowed)."""
        return float(self.trigram_index.coverage(query.trigrams).max())

    @cached_property
    def vocabulary(self) -> Vocabulary:
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

    @cached_property
    def head_words(self) -> frozenset[str]:
        """What the products are: the words of their names before "para…", and of their categories, folded.

        "frigorífico" is a word of "Absorbeolores para frigorífico", but no product is one.
        """
        heads = (w for i in self.items for w in words(fold(name_head(i.name))))
        return frozenset((*heads, *(w for c in self.categories for w in words(c))))

    @cached_property
    def lead_words(self) -> frozenset[str]:
        """The word a name starts with, and the one after its brand: what the product is.

        "Tónica zero calorías" is a tónica, "Apple iPhone 15" an iphone. Stricter than `head_words`: "calorías" or
        "apto" are said of products, none is one.
        """
        out: set[str] = set()
        for item in self.items:
            said = words(fold(item.name))
            brand = words(fold(item.brand or ""))
            out.update(said[:1])
            if brand and said[: len(brand)] == brand:
                out.update(said[len(brand) : len(brand) + 1])
        return frozenset((*out, *(w for c in self.categories for w in words(c))))

    @cached_property
    def _kind_starts(self) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
        """`head_words` and `lead_words` by their first two letters.

        A typo or a shortening is looked for only among the words that start like it: a turn asks this on the
        routing path.
        """
        return _by_start(self.head_words), _by_start(self.lead_words)

    def names_a_kind(self, word: str, strict: bool = False) -> bool:
        """Whether some product is a `word` (singular or plural, or misspelt by a letter or two: "zapatilas")."""
        heads = self.lead_words if strict else self.head_words
        if word in heads or word[:-1] in heads or word[:-2] in heads or f"{word}s" in heads:
            return True
        alike = self._kind_starts[strict].get(word[:2], ())
        if len(word) >= 4 and any(h.startswith(word) for h in alike):
            return True  # "la play 5": the PlayStation, as customers shorten it
        close = (h for h in alike if abs(len(h) - len(word)) <= 2)
        return any(difflib.SequenceMatcher(None, word, h).ratio() >= 0.88 for h in close)

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
class Vocabulary:
    """Every word of the catalogue's texts, and a trigram index over them (one document per word)."""

    words: frozenset[str]
    stems: frozenset[str]
    trigrams: BM25Index


def _by_start(found: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Words grouped by their first two letters."""
    groups: dict[str, list[str]] = {}
    for word in found:
        groups.setdefault(word[:2], []).append(word)
    return {start: tuple(sorted(group)) for start, group in groups.items()}


def levels(item: CatalogueItem) -> list[str]:
    """Every level of every category path of a product ("Cabello > Champú", "Ofertas" -> Cabello, Champú, Ofertas)."""
    return [level.strip() for path in getattr(item, "categories", None) or () for level in str(path).split(" > ")]


def _category_rows(items: list[CatalogueItem]) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for row, item in enumerate(items):
        for level in dict.fromkeys(fold(level) for level in levels(item) if level):
            rows.setdefault(level, []).append(row)
    return {level: np.asarray(found, dtype=np.int64) for level, found in rows.items()}


def _vocabulary(items: list[CatalogueItem]) -> Vocabulary:
    found: set[str] = set()
    for item in items:
        found.update(words(f"{item.name} {item.brand} {item.category} {item.subcategory} {item.description}"))
    ordered = sorted(found)
    return Vocabulary(
        frozenset(ordered), frozenset(stems(" ".join(ordered))), BM25Index([char_ngrams(w) for w in ordered])
    )


def name_key(terms: Iterable[str]) -> frozenset[str]:
    """The content stems of a name or query, for "is this query a product's whole name"."""
    return frozenset(t for t in terms if t not in FUNCTION_STEMS)


def _name_keys(items: list[CatalogueItem]) -> dict[frozenset[str], list[int]]:
    keys: dict[frozenset[str], list[int]] = {}
    for row, item in enumerate(items):
        key = name_key(stems(item.name))
        if key:
            keys.setdefault(key, []).append(row)
    return keys


def namesakes_of(snapshot: Snapshot, item: CatalogueItem) -> list[CatalogueItem]:
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


class SnapshotBuilder:
    """Builds snapshots, caching each product's tokens (and the vocabulary) while its text is unchanged.

    Not thread-safe by itself: `CatalogueIndex` calls it under its lock.
    """

    def __init__(self, store: ProductVectorStore) -> None:
        self.store = store
        # id -> (hash, stems, 3-grams, name stems, name-head stems)
        self._tokens: dict[int, tuple[str, list[str], list[str], list[str], list[str]]] = {}
        self._vocabulary_cache: tuple[str, Vocabulary] | None = None

    def _vocabulary_for(self, text_key: str, items: list[CatalogueItem]) -> Vocabulary:
        cached = self._vocabulary_cache
        if cached is not None and cached[0] == text_key:
            return cached[1]
        vocabulary = _vocabulary(items)
        self._vocabulary_cache = (text_key, vocabulary)
        return vocabulary

    def _token_docs(self, items: list[CatalogueItem]) -> tuple[list[list[str]], ...]:
        """Word, trigram, name and name-head tokens per product (cached by text hash); forgets products gone."""
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
        current = {item.id for item in items}
        for gone in set(self._tokens) - current:
            del self._tokens[gone]
        return word_docs, tri_docs, name_docs, head_docs

    def _dense(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors in snapshot row order; products without one get zeros (keyword-only ranking)."""
        store_ids, matrix = self.store.vectors()
        position = {int(pid): row for row, pid in enumerate(store_ids)}
        dense = np.zeros((ids.size, matrix.shape[1]), dtype=np.float32)
        missing = 0
        for row, pid in enumerate(ids):
            pos = position.get(int(pid))
            if pos is None:
                missing += 1
            else:
                dense[row] = matrix[pos]
        if missing:
            log.warning("%d products have no vector yet; they rank by keywords only", missing)
        return dense

    def build(
        self, current: dict[int, CatalogueItem], *, k1: float, b: float, label_keys: Sequence[str] = ()
    ) -> Snapshot:
        """A snapshot of the active products `current`, with BM25 parameters `k1` and `b`."""
        items = sorted(current.values(), key=lambda i: i.id)
        label_namesakes(items, label_keys)
        ids = np.fromiter((i.id for i in items), dtype=np.int64, count=len(items))
        word_docs, tri_docs, name_docs, head_docs = self._token_docs(items)
        text_key = hashlib.blake2b(
            "".join(f"{i.id}:{self._tokens[i.id][0]};" for i in items).encode(), digest_size=12
        ).hexdigest()
        dense = self._dense(ids)

        names: dict[str, int] = {"": 0}

        def codes(values: Iterable[str]) -> np.ndarray:
            return np.fromiter(
                (names.setdefault(fold(v).strip(), len(names)) for v in values), dtype=np.int32, count=len(items)
            )

        return Snapshot(
            items=items,
            ids=ids,
            price_cents=np.fromiter((cents(i.price) for i in items), dtype=np.int64, count=len(items)),
            stock=np.fromiter((i.stock for i in items), dtype=np.int64, count=len(items)),
            category=codes(i.category for i in items),
            subcategory=codes(i.subcategory for i in items),
            brand=codes(i.brand for i in items),
            names=names,
            word_index=BM25Index(word_docs, k1=k1, b=b),
            trigram_index=BM25Index(tri_docs, k1=k1, b=b),
            name_index=BM25Index(name_docs, k1=k1, b=b),
            head_index=BM25Index(head_docs, k1=k1, b=b),
            dense=dense,
            sku_rows={i.sku.upper(): row for row, i in enumerate(items)},
            name_keys=_name_keys(items),
            categories={fold(name): name for i in items for name in (i.category, i.subcategory, *levels(i)) if name},
            category_rows=_category_rows(items),
            attribute_keys=frozenset(fold(str(k)).replace("_", " ") for i in items for k in (i.attributes or {})),
            brands={fold(i.brand): i.brand for i in items if i.brand},
            brand_phrases=_brand_phrases(items),
            vocabulary_loader=lambda: self._vocabulary_for(text_key, items),
        )


def _brand_phrases(items: list[CatalogueItem]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """First word of each brand -> (the brand's words, the folded brand), for spotting brands in a query."""
    brand_phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    # Longest phrase first, in a fixed order: "bosch professional" before "bosch", whatever the hash seed.
    for brand in sorted({fold(i.brand) for i in items if i.brand}, key=lambda b: (-len(words(b)), b)):
        phrase = tuple(words(brand))
        if phrase:
            brand_phrases.setdefault(phrase[0], []).append((phrase, brand))
    return brand_phrases
