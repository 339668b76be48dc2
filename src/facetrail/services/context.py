"""The application context every service function receives: settings, database, blobs,
loaded model packs and open indexes. One per process; the CLI and API each build one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from facetrail.config import Settings
from facetrail.errors import SealRefusedError
from facetrail.governance.audit import AuditEvent, append, lock_and_read_head
from facetrail.governance.credentials import Principal
from facetrail.governance.seals import seal_transaction
from facetrail.imaging.decode import DecodeLimits
from facetrail.models.registry import get_pack
from facetrail.pipeline.batch import BatchConfig
from facetrail.pipeline.pipeline import FacePipeline, PipelineOptions
from facetrail.services.audit.refusal_floods import Floods
from facetrail.store.blobs import BlobStore
from facetrail.store.db import (
    LOCKING,
    PG_ACTION_LOCK_SQL,
    make_engine,
    make_sessionmaker,
    one_line,
)
from facetrail.store.sealing import begin_capture, end_capture

log = logging.getLogger("facetrail")

if TYPE_CHECKING:
    from facetrail.index.base import VectorIndex
    from facetrail.index.milvus_index import MilvusIndex


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    _pipelines: dict[str, FacePipeline] = field(default_factory=dict)
    #: gallery id -> (index, database fingerprint it was reconciled with)
    indexes: dict[int, tuple[VectorIndex, tuple[int, int, int]]] = field(default_factory=dict)
    #: gallery id -> the gallery's templates version its cached index was reconciled at
    index_versions: dict[int, int] = field(default_factory=dict)
    #: collection name -> its connection, with ``Settings.index_url`` (Milvus): opened once,
    #: closed with the context (``galleries._index_milvus``), whatever ``indexes`` forgets
    milvus_collections: dict[str, MilvusIndex] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    #: Held while an index is opened, reconciled, searched or added to: the API serves
    #: requests on several threads, and a FAISS index must not be searched while it changes.
    index_lock: threading.RLock = field(default_factory=threading.RLock)
    #: token hash -> (time.monotonic() when read, its owner): ``authentication.check_token``'s
    #: recent reads, a pre-check only (the action checks the token again under its lock)
    recent_tokens: dict[str, tuple[float, Principal]] = field(default_factory=dict)
    #: gallery id -> (its templates version when read, the blocklist of its pack)
    blocklists: dict[int, tuple[int, np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: the repeats of refusals counted in this process (``audit.refusal_floods``)
    floods: Floods = field(default_factory=Floods)

    @classmethod
    def open(cls, settings: Settings) -> AppContext:
        # The home is its owner's alone (files in it are 0600 under the CLI's umask 0o077).
        settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings.home.chmod(0o700)
        engine = make_engine(settings.db_url)
        return cls(settings, engine, make_sessionmaker(engine), BlobStore(settings.blob_dir))

    @property
    def limits(self) -> DecodeLimits:
        return DecodeLimits(self.settings.max_image_bytes, self.settings.max_image_pixels)

    def pipeline(self, pack: str) -> FacePipeline:
        with self.index_lock:  # loaded once, even when two request threads ask at once
            return self._loaded_pipeline(pack)

    def _loaded_pipeline(self, pack: str) -> FacePipeline:
        if pack not in self._pipelines:
            self._pipelines[pack] = FacePipeline(
                get_pack(pack, self.settings.home),
                self.settings.model_cache_dir,
                PipelineOptions(self.settings.threads, tuple(self.settings.providers)),
            )
        return self._pipelines[pack]

    def batch_config(self, pack: str, workers: int, *, keep_blobs: bool = False) -> BatchConfig:
        """How worker processes analyse files for this context: one onnxruntime thread each
        when there are several workers (processes beat threads on CPU)."""
        return BatchConfig(
            pack=pack,
            home=self.settings.home,
            cache_dir=self.settings.model_cache_dir,
            limits=self.limits,
            threads=1 if workers > 1 else self.settings.threads,
            providers=tuple(self.settings.providers),
            blobs=self.blobs if keep_blobs else None,
            ray_address=self.settings.ray_address,
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work that acts: it holds the database's write lock from its first
        statement (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL, taken with the
        audit log's head), so what it checks cannot change before it acts and its audit
        append cannot race another's.
        Commits on success, rolls back on any error."""
        if getattr(self._local, "acting", False):
            # A second locked transaction in the same thread would wait on the first forever
            # (SQLite) or until the lock timeout: a programming error, found by the tests.
            raise RuntimeError("an action's transaction is already open in this thread")
        self._local.acting = True
        refused: SealRefusedError | None = None
        try:
            with self.sessions() as session, session.begin():
                connection = session.connection(execution_options={LOCKING: True})
                if connection.dialect.name == "postgresql":
                    # The lock and the log head in one round trip (the head kept for the
                    # transaction's first audit append).
                    lock_and_read_head(session, PG_ACTION_LOCK_SQL)
                begin_capture(connection)
                try:
                    yield session
                    # Every sealed row it wrote is sealed by the log before it commits.
                    try:
                        seal_transaction(session)
                    except SealRefusedError as error:
                        refused = error
                        raise
                finally:
                    end_capture(connection)
        finally:
            self._local.acting = False
            if refused is not None:  # rolled back: the refusal is logged on its own
                self._log_seal_refusal(refused)

    def _log_seal_refusal(self, error: SealRefusedError) -> None:
        with self.transaction() as session:
            details = {"code": error.code, "reason": str(error)}
            subject = error.subject or "rows"
            append(session, AuditEvent("system", "row.seal.refused", subject, details))

    @contextmanager
    def reads(self) -> Iterator[Session]:
        """A session for reads that need no snapshot spanning their statements, on the hot
        path. On PostgreSQL its connection runs in autocommit, which costs two round trips
        fewer than a transaction (no BEGIN, no ROLLBACK) and changes nothing else: under READ
        COMMITTED each statement reads its own snapshot anyway. On SQLite, a plain session
        (its reads are in-process). Only for reads: in autocommit a write would commit at once."""
        if self.engine.dialect.name != "postgresql":
            with self.sessions() as session:
                yield session
            return
        with self.sessions(bind=self._autocommit) as session:
            yield session

    @cached_property
    def _autocommit(self) -> Engine:
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

    def write_floods(self, *, closing: bool = False) -> int:
        """Write the entries of the refusals' minutes that are over (all of them when
        ``closing``), each by the person refused -> how many were written."""
        due = self.floods.due(None if closing else datetime.now(UTC))
        if due:
            with self.transaction() as session:
                for flood in due:
                    append(session, flood.entry())
        return len(due)

    def close(self) -> None:
        try:
            self.write_floods(closing=True)
        except Exception as exc:  # a database down or a disk full at shutdown: said, not raised
            log.error("the counts of repeated refusals were not written: %s", one_line(exc))
        finally:
            self._close_collections()
            self.engine.dispose()

    def _close_collections(self) -> None:
        while self.milvus_collections:
            name, collection = self.milvus_collections.popitem()
            try:
                collection.close()
            except Exception as exc:  # a Milvus gone at shutdown: said, not raised
                log.error("the Milvus collection %s was not closed: %s", name, one_line(exc))
