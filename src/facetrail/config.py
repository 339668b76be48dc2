"""The one typed settings object. Every ``FACETRAIL_*`` environment variable is read here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from facetrail.errors import SettingError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACETRAIL_", extra="ignore")

    #: Data folder: database, blobs, indexes, model cache.
    home: Path = Path("./var")
    #: Database URL; default is SQLite (WAL) inside ``home``.
    database_url: str | None = None
    #: Pack used when a gallery or command does not name one.
    default_pack: str = "arcface-mbf"
    #: Image intake limits: refused before decoding.
    max_image_bytes: int = Field(default=40 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    #: onnxruntime intra-op threads per process (0 = onnxruntime's choice).
    threads: int = Field(default=0, ge=0)
    #: onnxruntime execution providers, in order of preference.
    providers: list[str] = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    #: Ingestion and evaluation analyse photos on Ray actors (one a worker): "local" starts a
    #: cluster on this machine for each run (its processes listen on every interface, behind a
    #: token never written to disk), or a cluster's address ("10.0.0.5:6379") joins one whose
    #: nodes see the same files and home. None (the default): worker processes on this machine.
    ray_address: str | None = None
    #: Outgoing mail for notifications; no host = in-app inbox only (mail stays queued).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "facetrail@localhost"
    #: Without an SMTP host, mail may be dropped as .eml files (0600) into this pickup folder
    #: for a local mail system to deliver (as IIS and Exchange pickup folders do).
    mail_dir: Path | None = None
    #: Signed audit checkpoints are made when this many entries or seconds have passed since
    #: the last one (checked by ``housekeeping``, which every signed-in command runs).
    checkpoint_every_entries: int = Field(default=1000, gt=0)
    checkpoint_every_seconds: int = Field(default=3600, gt=0)
    #: Folder of the audit log's private signing key (0700, the key 0600): never inside the
    #: home, readable only by the account that runs ``facetrail audit checkpoint``. Default:
    #: a sibling of the home, ``<home>.audit-key``.
    signing_key_dir: Path | None = None
    #: The log's origin (first line of its checkpoints, its key's name), fixed when the key
    #: is made; default ``facetrail.invalid/audit/<random>``.
    audit_origin: str | None = None
    #: Witness inboxes outside the home (JSON list of folders): every checkpoint is written to
    #: each as a c2sp.org/tlog-witness add-checkpoint request for ``facetrail audit witness``.
    witness_dirs: list[Path] = []
    #: Where every checkpoint also publishes the log's hash tiles (c2sp.org/tlog-tiles: the
    #: folder a web server serves as it is; ``facetrail audit tiles``); None: not published.
    tiles_dir: Path | None = None
    #: Galleries of up to this many templates are searched by an exact index; larger ones by
    #: an inverted file of 8-bit codes whose short lists are re-scored exactly
    #: (``index.choose``, measured in docs/measurements.md).
    exact_index_up_to: int = 50_000
    #: Galleries of more than this many templates get an inverted file of 64-byte product
    #: codes (72 bytes a face in its lists, a longer short list re-scored exactly) rather than
    #: one of 8-bit codes; by default every approximate index is compressed (``index.choose``).
    compressed_index_from: int = 50_000
    #: Where every gallery's vectors are searched. None (the default): FAISS index files in
    #: the home (the three kinds above, by size). A path ending in ".db": embedded milvus-lite
    #: in that file; "http://host:19530" (or https): a Milvus server or cluster. Either way one
    #: collection per gallery and pack, held to the templates as the files are
    #: (``services.galleries._index_milvus``); anything else is refused (``SettingError``).
    index_url: str | None = None
    #: Folders on the server that gallery admins may ask the service (API, web app) to ingest
    #: from, as a JSON list ('["/srv/intake"]'); a folder must lie under one once symlinks and
    #: ".." are resolved. None (the default): the service refuses every folder named by path
    #: (uploaded photos are not concerned). The home, its blobs, index and models, the audit
    #: key and the secrets folder are never read, under a root or not, nor by the CLI, whose
    #: operator is not bound by the roots.
    import_roots: list[Path] = []
    #: ``facetrail init`` reads the first admin's password from here when not prompting.
    admin_password: SecretStr | None = None
    #: Passwords are never command-line options (they show in ``ps`` and shell history):
    #: ``facetrail login``, ``enrol``, ``token create`` and ``account password`` read the
    #: current one from here, else ``--password-stdin`` or a prompt ...
    password: SecretStr | None = None
    #: ... and a new one (account create/request, a password change) from here.
    new_password: SecretStr | None = None
    #: The key that seals TOTP secrets at rest, kept apart from the database (0600 in a 0700
    #: folder). Default: a sibling of the home, ``<home>.secrets/totp.key``.
    secrets_key_file: Path | None = None
    #: Rate limits of the API's sign-in and search routes, each applied per account and per
    #: client address (``limits`` notation: "10/minute", "100/hour;10/minute").
    login_rate_limit: str = "10/minute"
    search_rate_limit: str = "30/minute"
    #: Where the counts live: "memory://" counts per worker process; a shared store
    #: ("redis://127.0.0.1:6379") makes them hold across all workers.
    rate_limit_storage: str = "memory://"
    #: ``facetrail serve`` runs background work in each worker: queued jobs (ingestions) are
    #: looked for every ``job_poll_seconds``; housekeeping (checkpoints, mail retries, probe
    #: retention, stranded searches) runs every ``housekeeping_seconds``.
    background_work: bool = True
    job_poll_seconds: float = Field(default=2.0, gt=0)
    housekeeping_seconds: int = Field(default=60, gt=0)
    #: PostgreSQL: an erasure or retention purge rewrites the tables it deleted from (VACUUM
    #: FULL, an exclusive lock while it runs) so the bytes are gone from the data files; off:
    #: plain VACUUM, which only marks the space free (SQLite always overwrites: secure_delete)
    erasure_vacuum_full: bool = True
    #: misuse alerts are raised and due digests sent every ``oversight_seconds``
    oversight_seconds: int = Field(default=900, gt=0)
    #: every gallery's index file is held to the hash sealed in the log, and each of its
    #: vectors to the stored templates, every ``index_check_seconds`` (and rebuilt if not)
    index_check_seconds: int = Field(default=86400, gt=0)

    @field_validator("index_url")
    @classmethod
    def _index_url_known(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        # ``MilvusIndex`` takes any URL ending in .db for a milvus-lite file: never a server's.
        if value.endswith(".db") and "://" not in value:
            return value
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.hostname and not value.endswith(".db"):
            return value
        # The value is not repeated: a server's address may carry its credentials.
        raise SettingError(
            "takes a path ending in .db (embedded milvus-lite), http://host:port or "
            "https://host:port (a Milvus server), or nothing (FAISS index files in the "
            "home); this value is none of them",
            subject="FACETRAIL_INDEX_URL",
        )

    @property
    def db_url(self) -> str:
        if self.db_file is None:
            assert self.database_url is not None
            return self.database_url
        return f"sqlite:///{self.db_file.resolve()}"

    @property
    def db_file(self) -> Path | None:
        """The embedded SQLite file in the home; None when a database URL is configured."""
        return None if self.database_url else self.home / "facetrail.db"

    @property
    def audit_key_dir(self) -> Path:
        if self.signing_key_dir is not None:
            return self.signing_key_dir
        home = self.home.resolve()
        return home.parent / f"{home.name}.audit-key"

    @property
    def totp_key_file(self) -> Path:
        if self.secrets_key_file is not None:
            return self.secrets_key_file
        home = self.home.resolve()
        return home.parent / f"{home.name}.secrets" / "totp.key"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def session_token_file(self) -> Path:
        return self.home / "session.token"

    @property
    def model_cache_dir(self) -> Path:
        return self.home / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
