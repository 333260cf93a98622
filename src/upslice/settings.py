"""Every setting has a default, an `UPSLICE_*` environment variable and a CLI flag."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
GiB = 1024 * MiB


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPSLICE_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(38080, ge=0, le=65535)
    data_dir: Path = Path("upslice-data")
    database_url: str | None = Field(
        None, description="metadata store; default: sqlite file inside data_dir"
    )
    min_chunk_size: int = Field(256 * 1024, ge=1)
    default_chunk_size: int = Field(5 * MiB, ge=1)
    max_chunk_size: int = Field(64 * MiB, ge=1)
    max_file_size: int = Field(100 * GiB, ge=0)
    expiry_seconds: float = Field(24 * 3600, gt=0, description="unfinished uploads expire")
    sweep_interval_seconds: float = Field(60, gt=0)
    fsync: bool = Field(False, description="fsync every acknowledged chunk before replying")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    demo: bool = True
    cors_origins: list[str] = Field(default_factory=list)
    cors_credentials: bool = False
    chaos: str | None = Field(None, description='fault injection, e.g. "fail=0.1,cut=0.05"')

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "upslice.db"
