"""The product vector index: a LangChain FAISS store persisted under var/ with a manifest.

The manifest records which embedder built the vectors, their dimension, the catalogue revision they reflect and
how many there are. A manifest that names another embedder or dimension means the files are useless and the index
is rebuilt; an older revision only means the products written since then are re-embedded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores.utils import DistanceStrategy
from langchain_core.documents import Document

from vectorstore.embeddings import Embedder

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)
    from langchain_community.vectorstores import FAISS

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the persisted vectors were built with and from."""

    embedder: str
    dimension: int
    revision: int
    count: int
    format: int = FORMAT_VERSION


def text_hash(text: str) -> str:
    """Short content hash: tells whether a product's indexed text changed since it was embedded."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


class ProductVectorStore:
    """FAISS (inner product over L2-normalised vectors = cosine) keyed by product id."""

    def __init__(self, embedder: Embedder, directory: Path) -> None:
        self.embedder = embedder
        self.directory = directory
        self.revision = 0
        self.store = self._empty()
        self._matrix: np.ndarray | None = None
        self._ids = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ persistence

    def _empty(self) -> FAISS:
        return FAISS(
            embedding_function=self.embedder.embeddings,
            index=faiss.IndexFlatIP(self.embedder.dimension),
            docstore=InMemoryDocstore(),
            index_to_docstore_id={},
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )

    def read_manifest(self) -> Manifest | None:
        try:
            raw = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
            return Manifest(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def compatible(self, manifest: Manifest | None) -> bool:
        return (
            manifest is not None
            and manifest.format == FORMAT_VERSION
            and manifest.embedder == self.embedder.id
            and manifest.dimension == self.embedder.dimension
        )

    def load(self) -> bool:
        """Load the persisted index if its manifest matches this embedder; False means start empty."""
        manifest = self.read_manifest()
        if not self.compatible(manifest):
            if manifest is not None:
                log.info("vector index manifest does not match %s: rebuilding", self.embedder.id)
            self.store, self.revision = self._empty(), 0
            self._matrix = None
            return False
        assert manifest is not None
        try:
            store = FAISS.load_local(
                str(self.directory),
                self.embedder.embeddings,
                allow_dangerous_deserialization=True,  # our own file, written by save()
                distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
            )
        except Exception:  # a torn or foreign file: rebuilding is always safe
            log.warning("vector index under %s is unreadable: rebuilding", self.directory, exc_info=True)
            self.store, self.revision = self._empty(), 0
            self._matrix = None
            return False
        if store.index.ntotal != manifest.count:
            log.warning("vector index count %s != manifest %s: rebuilding", store.index.ntotal, manifest.count)
            self.store, self.revision = self._empty(), 0
            self._matrix = None
            return False
        self.store, self.revision = store, manifest.revision
        self._matrix = None
        return True

    def save(self, revision: int) -> Manifest:
        """Write index and manifest to a temporary folder, then swap it in: readers never see half a write."""
        self.revision = revision
        manifest = Manifest(
            embedder=self.embedder.id,
            dimension=self.embedder.dimension,
            revision=revision,
            count=int(self.store.index.ntotal),
        )
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".index-", dir=self.directory.parent))
        try:
            self.store.save_local(str(tmp))
            (tmp / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2), encoding="utf-8")
            old = self.directory.with_name(self.directory.name + f".old-{os.getpid()}")
            if self.directory.exists():
                os.replace(self.directory, old)
            os.replace(tmp, self.directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return manifest

    # ------------------------------------------------------------------ contents

    def __len__(self) -> int:
        return int(self.store.index.ntotal)

    def hashes(self) -> dict[int, str]:
        """Product id -> hash of the text its vector was computed from."""
        docs: dict[str, Document] = self.store.docstore._dict  # type: ignore[attr-defined]
        return {int(key): str(doc.metadata.get("text_hash", "")) for key, doc in docs.items()}

    def upsert(self, items: list[tuple[int, str]], vectors: np.ndarray | None = None, **embed: Any) -> int:
        """Embed (unless given) and store `(product_id, text)` pairs, replacing existing vectors of those ids."""
        if not items:
            return 0
        if vectors is None:
            vectors = self.embedder.document_vectors([text for _, text in items], **embed)
        self.remove([pid for pid, _ in items])
        self.store.add_embeddings(
            text_embeddings=[(text, vec) for (_, text), vec in zip(items, vectors.tolist(), strict=True)],
            metadatas=[{"product_id": pid, "text_hash": text_hash(text)} for pid, text in items],
            ids=[str(pid) for pid, _ in items],
        )
        self._matrix = None
        return len(items)

    def remove(self, product_ids: list[int]) -> int:
        present = set(self.store.index_to_docstore_id.values())
        ids = [key for key in dict.fromkeys(str(pid) for pid in product_ids) if key in present]
        if ids:
            self.store.delete(ids)
            self._matrix = None
        return len(ids)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(product ids by FAISS position, a copy of the stored vectors) for exhaustive scoring.

        A copy, not a view of FAISS memory: a search running while another thread updates the index must never
        read freed memory. Rebuilt lazily after each change.
        """
        if self._matrix is None:
            n, d = self.store.index.ntotal, self.store.index.d
            matrix = (
                np.array(faiss.rev_swig_ptr(self.store.index.get_xb(), n * d), copy=True).reshape(n, d)
                if n
                else np.zeros((0, d), dtype=np.float32)
            )
            mapping = self.store.index_to_docstore_id
            ids = np.fromiter((int(mapping[i]) for i in range(len(mapping))), dtype=np.int64, count=len(mapping))
            self._matrix, self._ids = matrix, ids
        return self._ids, self._matrix
