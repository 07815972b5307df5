"""The catalogue service: the database is the truth, the in-memory search index follows it by revision.

Every product write bumps the catalogue revision in its transaction. Before answering, a search compares the
database revision with the index's (one indexed read) and applies the products written since, so prices,
stock and filters are never older than the last committed write, whichever process made it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from data import crud
from data.db import create_engine, session_factory
from data.lexicon import load as load_lexicon
from data.models import Product, ProductPublic
from settings import Settings
from state import SearchFilters, SearchHit
from vectorstore.embeddings import Embedder, build_embedder
from vectorstore.hybrid import CatalogueIndex, HybridWeights
from vectorstore.query import Query
from vectorstore.store import ProductVectorStore

log = logging.getLogger(__name__)

ProgressFactory = Callable[[int], Callable[[int], None] | None]


class SQLiteRevisionReader:
    """A read-only sqlite3 connection for the per-request revision check.

    Through aiosqlite the check costs ~3 ms of thread hand-offs; a direct read of one row in WAL mode takes
    microseconds and always sees the last committed write of any process, so it may run on the event loop.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None  # opened on first use: the file may not exist yet

    @classmethod
    def for_url(cls, url: URL) -> SQLiteRevisionReader | None:
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return cls(url.database)

    def read(self) -> int:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
                self._conn.execute("PRAGMA busy_timeout = 2000")
            row = self._conn.execute(crud.REVISION_QUERY).fetchone()
        except sqlite3.Error:
            self.close()  # reconnect next time (file recreated, schema not migrated yet, ...)
            raise
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def to_public(product: Product) -> ProductPublic:
    """Detach a row into an immutable-by-convention value the index can hold across sessions."""
    return ProductPublic.model_validate(product)


class UnknownCategoryError(ValueError):
    """A category filter names no category of the catalogue."""

    def __init__(self, category: str, known: list[str]) -> None:
        super().__init__(category)
        self.category = category
        self.known = known


@dataclass
class SyncReport:
    """What a load or sync did, for logs and the CLI."""

    revision: int
    applied: int
    embedded: int
    seconds: float


class CatalogService:
    """Owns the engine, the session factory and the search index of one process."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings.resolved_database_url, echo=settings.database_echo)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.embedder = embedder or build_embedder(settings)
        self.store = ProductVectorStore(self.embedder, Path(settings.resolved_index_dir))
        # Size and package columns (data/lexicon/attributes.json `label_keys`) are shown after every name.
        labels = load_lexicon("attributes", settings.resolved_lexicon_dir).get("label_keys", [])
        self.index = CatalogueIndex(self.store, HybridWeights(semantic=settings.search_semantic_weight), labels)
        self._sync_lock = asyncio.Lock()
        self._revision_reader = SQLiteRevisionReader.for_url(self.engine.url)
        self._loaded = False
        self._save_task: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._save_task is not None:
            await self._save_task
        if self._revision_reader is not None:
            self._revision_reader.close()
        await self.engine.dispose()

    # ------------------------------------------------------------------ index lifecycle

    async def load(self, progress: ProgressFactory | None = None) -> SyncReport:
        """Start-up: reuse the persisted vectors whose text is unchanged, embed the rest, save if anything moved."""
        started = time.perf_counter()
        async with self._sync_lock:
            await asyncio.to_thread(self.store.load)
            async with self.sessions() as session:
                revision = await crud.get_revision(session)
                items = [to_public(p) for p in await crud.all_products(session)]
            pending = self.index.pending_embeddings(items)
            callback = progress(pending) if progress and pending else None
            embedded = await asyncio.to_thread(self.index.replace_all, items, revision, progress=callback)
            if self.store.revision != revision or embedded or len(self.store) != len(self.index.items):
                await asyncio.to_thread(self.index.save)
            self._loaded = True
        return SyncReport(revision, len(items), embedded, time.perf_counter() - started)

    async def current_revision(self) -> int:
        """The database's catalogue revision, read as cheaply as the backend allows (every search asks)."""
        if self._revision_reader is not None:
            try:
                return self._revision_reader.read()
            except sqlite3.Error:
                log.debug("fast revision read failed; using the async engine this time", exc_info=True)
        async with self.sessions() as session:
            return await crud.get_revision(session)

    async def ensure_fresh(self) -> int:
        """Bring the index up to the database's revision (one indexed read when nothing changed)."""
        if not self._loaded:
            await self.load()
        revision = await self.current_revision()
        if revision != self.index.revision:
            await self.sync()
        return self.index.revision

    async def sync(self) -> SyncReport:
        """Apply the products written since the index's revision.

        The revision is read again under the lock: a request that saw an older one must not undo newer work.
        """
        started = time.perf_counter()
        async with self._sync_lock:
            async with self.sessions() as session:
                revision = await crud.get_revision(session)
                if revision == self.index.revision:
                    return SyncReport(revision, 0, 0, 0.0)
                if revision < self.index.revision:
                    # The database went back in time (restored backup, recreated file): rebuild from it.
                    changed = [to_public(p) for p in await crud.all_products(session)]
                    embedded = await asyncio.to_thread(self.index.replace_all, changed, revision)
                    self._schedule_save()
                    return SyncReport(revision, len(changed), embedded, time.perf_counter() - started)
                changed = [
                    to_public(p) for p in await crud.products_changed_since(session, revision=self.index.revision)
                ]
            if self._disk_is_ahead(revision):
                # Another process (an import) embedded these already: start from its vectors.
                await asyncio.to_thread(self.index.reload_vectors)
            embedded = await asyncio.to_thread(self.index.apply, changed, revision)
            self._schedule_save()
        return SyncReport(revision, len(changed), embedded, time.perf_counter() - started)

    def _disk_is_ahead(self, revision: int) -> bool:
        manifest = self.store.read_manifest()
        return (
            manifest is not None
            and self.store.compatible(manifest)
            and self.store.revision < manifest.revision <= revision
        )

    def _schedule_save(self) -> None:
        """Persist soon, off the request path; several writes in a row share one save."""
        if self._save_task is not None and not self._save_task.done():
            return

        async def _save() -> None:
            await asyncio.sleep(0.5)
            async with self._sync_lock:
                await asyncio.to_thread(self.index.save)

        self._save_task = asyncio.get_running_loop().create_task(_save())

    async def flush(self) -> None:
        """Wait for a pending index save (tests, shutdown, CLI)."""
        if self._save_task is not None:
            await self._save_task
            self._save_task = None

    # ------------------------------------------------------------------ queries

    def query(self, text: str) -> Query:
        return Query(text, self.embedder)

    def resolve_filters(self, filters: SearchFilters | None) -> SearchFilters:
        """Spell category and brand as the catalogue does; refuse an unknown category (call after `ensure_fresh`).

        An unknown brand is not an error: the shop simply has nothing of it, and the answer is an empty list.
        """
        if filters is None:
            return SearchFilters()
        category = brand = None
        if filters.category:
            category = self.index.canonical_category(filters.category)
            if category is None:
                raise UnknownCategoryError(filters.category, self.index.category_names())
        if filters.brand:
            brand = self.index.canonical_brand(filters.brand) or filters.brand
        return replace(filters, category=category, brand=brand)

    async def search(
        self, text: str | Query, *, filters: SearchFilters | None = None, limit: int = 10, mode: str = "hybrid"
    ) -> list[SearchHit]:
        """Hybrid search over the fresh catalogue; raises UnknownCategoryError for a category it lacks."""
        await self.ensure_fresh()
        filters = self.resolve_filters(filters)
        query = text if isinstance(text, Query) else self.query(text)
        return self.index.search(query, filters=filters, limit=limit, mode=mode)

    async def semantic_search(self, text: str | Query, *, k: int = 10) -> list[SearchHit]:
        await self.ensure_fresh()
        query = text if isinstance(text, Query) else self.query(text)
        return self.index.similar(query, k)
