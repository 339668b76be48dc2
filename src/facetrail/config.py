"""The one typed settings object. Every ``FACETRAIL_*`` environment variable is read here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    #: Outgoing mail for notifications; no host = in-app inbox only (mail stays queued).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "facetrail@localhost"
    #: Signed audit checkpoints are made when this many entries or seconds have passed since
    #: the last one (checked by ``housekeeping``, which every signed-in command runs).
    checkpoint_every_entries: int = Field(default=1000, gt=0)
    checkpoint_every_seconds: int = Field(default=3600, gt=0)
    #: ``facetrail init`` reads the first admin's password from here when not prompting.
    admin_password: SecretStr | None = None

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'facetrail.db').resolve()}"

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
