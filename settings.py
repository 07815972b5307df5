"""The one settings object: every knob comes from the environment (or `.env`), documented in `.env.example`."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent

EmbeddingsProvider = Literal["auto", "gemini", "use", "e5", "sentence-transformers"]
LLMProvider = Literal["auto", "gemini", "openai", "offline"]


class Settings(BaseSettings):
    """Runtime configuration; relative paths resolve against the repository root, not the cwd."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    var_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file var/agente.db
    database_echo: bool = False

    admin_api_key: SecretStr | None = None

    google_api_key: SecretStr | None = None
    embeddings_provider: EmbeddingsProvider = "auto"
    embeddings_model: str = ""  # model name (gemini) or local path / hub name (sentence-transformers)
    gemini_embeddings_model: str = "models/text-embedding-004"

    llm_provider: LLMProvider = "auto"
    # agent: the model reads each turn and calls the shop's tools (the rules answer when it fails);
    # polish: the rules read the turn and the model only rewrites the reply (one call a turn, cheaper).
    llm_mode: Literal["agent", "polish"] = "agent"
    default_model: str = "gemini-2.0-flash"
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    llm_timeout: float = Field(default=15.0, gt=0, le=20.0)
    llm_max_retries: int = Field(default=1, ge=0, le=2)
    llm_history_tokens: int = Field(default=2000, ge=100, le=100_000)
    openai_api_key: SecretStr | None = None
    openai_base_url: str = ""
    openai_model: str = "gpt-4o-mini"

    checkpointer: Literal["sqlite", "memory", "redis"] = "sqlite"

    # Semantic cache: Redis Stack first (shared by every instance), this process's memory while Redis is away.
    cache_backend: Literal["redis", "memory"] = "redis"
    redis_url: str = ""  # empty: the project's Redis Stack on 127.0.0.1:$REDIS_PORT
    redis_port: int = Field(default=6380, ge=1, le=65535)
    redis_timeout: float = Field(default=0.25, gt=0, le=5.0)
    cache_name: str = Field(default="agente_cache", pattern=r"^[A-Za-z0-9_\-]+$")
    cache_threshold: float = Field(default=0.60, ge=0.0, le=1.0)

    index_dir: Path = Path("")  # empty: var/index
    policies_file: Path = Path("")  # empty: var/policies.md (installed from the sample by `python -m manage setup`)
    lexicon_dir: Path = Path("")  # empty: var/lexicon (the shop's own words, added to data/lexicon's)
    search_semantic_weight: float = Field(default=0.5, ge=0.0, le=1.0)

    # Telegram (telegram_bot/): the channel is on when TELEGRAM_TOKEN is set.
    telegram_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None  # X-Telegram-Bot-Api-Secret-Token: 1-256 of A-Z a-z 0-9 _ -
    telegram_admin_chat_ids: Annotated[list[int], NoDecode] = []  # "123,456": told about orders placed on Telegram
    telegram_api_base_url: str = "https://api.telegram.org/bot"  # the token and the method are appended

    @field_validator("telegram_token", "telegram_webhook_secret", mode="before")
    @classmethod
    def _blank_telegram_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET: de 1 a 256 caracteres A-Z, a-z, 0-9, _ o -")
        return value

    @field_validator("telegram_admin_chat_ids", mode="before")
    @classmethod
    def _chat_id_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in re.split(r"[,\s]+", value) if part.strip()]
        return value

    @field_validator("admin_api_key", "google_api_key", "openai_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("var_dir", "index_dir", "policies_file", "lexicon_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value if value.is_absolute() or str(value) in ("", ".") else ROOT / value

    @classmethod
    def isolated(cls, **values: Any) -> Settings:
        """Settings from explicit values and the environment only, never from a developer's .env (tests, evals)."""
        return cls(_env_file=None, **values)  # type: ignore[call-arg]

    @property
    def resolved_database_url(self) -> str:
        """Default to a SQLite file under var/ so a fresh checkout needs no database server."""
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'agente.db'}"

    @property
    def resolved_redis_url(self) -> str:
        """Redis for the cache (and CHECKPOINTER=redis): REDIS_URL, or the Redis Stack that make run starts."""
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def resolved_policies_file(self) -> Path:
        """The policies document the assistant answers from."""
        return self.policies_file if str(self.policies_file) not in ("", ".") else self.var_dir / "policies.md"

    @property
    def resolved_lexicon_dir(self) -> Path:
        """The shop's own vocabulary files (synonyms, kinds, purposes...), read on top of the shipped ones."""
        return self.lexicon_dir if str(self.lexicon_dir) not in ("", ".") else self.var_dir / "lexicon"

    @property
    def telegram_base_file_url(self) -> str:
        """Where Telegram serves files, next to TELEGRAM_API_BASE_URL (https://api.telegram.org/file/bot)."""
        base = self.telegram_api_base_url
        return base[: -len("bot")] + "file/bot" if base.endswith("bot") else base.rstrip("/") + "/file/bot"

    @property
    def resolved_index_dir(self) -> Path:
        """Where the FAISS index and its manifest live."""
        return self.index_dir if str(self.index_dir) not in ("", ".") else self.var_dir / "index"


def configure_logging(level: str) -> None:
    """Process-wide logging for the CLI and the server; third-party start-up chatter stays at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss.loader", "alembic.runtime.migration", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once; tests build their own `Settings(...)` instead."""
    return Settings()
