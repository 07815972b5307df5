"""The FAISS store, its manifest, and incremental updates with the real local embedder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vectorstore.embeddings import Embedder
from vectorstore.hybrid import CatalogueIndex
from vectorstore.index_snapshot import dense_text
from vectorstore.query import Query
from vectorstore.store import ProductVectorStore


@dataclass
class Item:
    id: int
    sku: str
    name: str
    description: str = ""
    category: str = "Hogar"
    subcategory: str = ""
    brand: str = ""
    price: Decimal = Decimal("10.00")
    stock: int = 3
    active: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)


class CountingEmbedder(Embedder):
    """The real embedder, counting how many documents it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner.embeddings, id=inner.id, dimension=inner.dimension)
        self.embedded = 0

    def document_vectors(self, texts, progress=None):
        self.embedded += len(texts)
        return super().document_vectors(texts, progress)


ITEMS = [
    Item(1, "COC-1", "Sartén antiadherente 24 cm", "Sartén de aluminio para inducción", "Cocina", brand="Tefal"),
    Item(2, "COC-2", "Cafetera espresso", "Cafetera manual de 15 bares", "Cocina", brand="De'Longhi"),
    Item(3, "MAS-1", "Pienso para perros adultos 4 kg", "Alimento completo para perros", "Mascotas"),
    Item(4, "LIB-1", "Novela de misterio", "Un thriller ambientado en Barcelona", "Libros", brand="Planeta"),
]


@pytest.fixture
def counting(embedder: Embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def test_save_load_round_trip_with_manifest(tmp_path: Path, counting: CountingEmbedder) -> None:
    store = ProductVectorStore(counting, tmp_path / "index")
    index = CatalogueIndex(store)
    assert index.replace_all(ITEMS, revision=7) == 4
    manifest = store.save(7)
    on_disk = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert on_disk == {
        "embedder": counting.id,
        "dimension": counting.dimension,
        "revision": 7,
        "count": 4,
        "format": manifest.format,
    }
    again = ProductVectorStore(counting, tmp_path / "index")
    assert again.load() and again.revision == 7 and len(again) == 4
    # Reloading and re-applying the same products embeds nothing.
    counting.embedded = 0
    assert CatalogueIndex(again).replace_all(ITEMS, revision=7) == 0
    assert counting.embedded == 0


def test_manifest_of_another_embedder_means_rebuild(tmp_path: Path, counting: CountingEmbedder) -> None:
    store = ProductVectorStore(counting, tmp_path / "index")
    CatalogueIndex(store).replace_all(ITEMS, revision=1)
    store.save(1)
    manifest = tmp_path / "index" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["embedder"] = "some-other-model"
    manifest.write_text(json.dumps(data))
    fresh = ProductVectorStore(counting, tmp_path / "index")
    assert fresh.load() is False and len(fresh) == 0
    counting.embedded = 0
    assert CatalogueIndex(fresh).replace_all(ITEMS, revision=1) == 4
    assert counting.embedded == 4


def test_corrupt_files_mean_rebuild(tmp_path: Path, counting: CountingEmbedder) -> None:
    store = ProductVectorStore(counting, tmp_path / "index")
    CatalogueIndex(store).replace_all(ITEMS, revision=1)
    store.save(1)
    (tmp_path / "index" / "index.faiss").write_bytes(b"not a faiss file")
    assert ProductVectorStore(counting, tmp_path / "index").load() is False


def test_incremental_updates_embed_only_what_changed(tmp_path: Path, counting: CountingEmbedder) -> None:
    index = CatalogueIndex(ProductVectorStore(counting, tmp_path / "index"))
    index.replace_all(ITEMS, revision=1)
    counting.embedded = 0
    # A price or stock change does not touch the text: no embedding.
    index.apply(
        [Item(1, "COC-1", ITEMS[0].name, ITEMS[0].description, "Cocina", brand="Tefal", price=Decimal("9.99"))], 2
    )
    assert counting.embedded == 0
    assert index.search(Query("sartén", index.embedder), limit=1)[0].item.price == Decimal("9.99")
    # A new name: exactly one embedding, and the vector follows the new text.
    renamed = Item(3, "MAS-1", "Comedero automático para gatos", "Dispensador programable", "Mascotas")
    index.apply([renamed], 3)
    assert counting.embedded == 1
    ids, matrix = index.store.vectors()
    row = int(np.flatnonzero(ids == 3)[0])
    expected = counting.document_vectors([dense_text(renamed)])[0]
    assert float(matrix[row] @ expected) > 0.999
    # Deactivation removes the vector and the product from results.
    index.apply([Item(4, "LIB-1", "Novela de misterio", active=False)], 4)
    assert 4 not in set(index.store.vectors()[0].tolist())
    assert all(h.item.id != 4 for h in index.search(Query("novela misterio", index.embedder), limit=10))
    assert len(index.store) == 3 and index.revision == 4


def test_similar_ranks_by_cosine(tmp_path: Path, embedder: Embedder) -> None:
    index = CatalogueIndex(ProductVectorStore(embedder, tmp_path / "index"))
    index.replace_all(ITEMS, revision=1)
    hits = index.similar(Query("comida para mi perro", embedder), k=2)
    assert hits[0].item.sku == "MAS-1"
    assert hits[0].score >= hits[1].score
    assert hits[0].matched_by == ("semantic",)
