"""Every setting has a default, an `UPSLICE_*` environment variable and a CLI flag."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from upslice.sizes import ByteSize

MiB = 1024 * 1024
GiB = 1024 * MiB
MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """The CPUs this process may run on, capped: past a few workers the disk is the limit."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPSLICE_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(38080, ge=0, le=65535)
    data_dir: Path = Path("upslice-data")
    database_url: str | None = Field(
        None, description="metadata store; default: sqlite file inside data_dir"
    )
    min_chunk_size: ByteSize = Field(256 * 1024, ge=1)
    default_chunk_size: ByteSize = Field(5 * MiB, ge=1)
    max_chunk_size: ByteSize = Field(64 * MiB, ge=1)
    max_file_size: ByteSize = Field(100 * GiB, ge=0)
    max_concat_parts: int = Field(
        1000, ge=1, description="partial uploads one tus final upload may join"
    )
    expiry_seconds: float = Field(24 * 3600, gt=0, description="unfinished uploads expire")
    sweep_interval_seconds: float = Field(60, gt=0)
    lease_seconds: float = Field(
        5, gt=0, description="a dead worker or node blocks an upload at most this long"
    )
    fsync: bool = Field(False, description="fsync every acknowledged chunk before replying")
    hash_undeclared: bool = Field(
        False,
        description="hash tus and IETF uploads that declare no hash or checksum, too "
        "(instant upload and download digests for them, at the cost of one MD5 per byte)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    demo: bool = True
    cors_origins: list[str] = Field(default_factory=list)
    cors_credentials: bool = False
    header_timeout: float = Field(
        10, gt=0, description="seconds a client has to send a request's headers"
    )
    keepalive_timeout: int = Field(5, ge=1, description="idle seconds before a keep-alive closes")
    body_timeout: float = Field(
        30, gt=0, description="a request body that sends nothing for this long ends with 408"
    )
    max_connections: int = Field(
        1000, ge=1, description="connections served at once; beyond that requests get 503"
    )
    chaos: str | None = Field(None, description='fault injection, e.g. "fail=0.1,cut=0.05"')
    orphan_grace_seconds: float = Field(
        3600, ge=0, description="gc/fsck leave bytes without a record alone while this young"
    )
    shutdown_timeout: int = Field(
        30, ge=0, description="seconds in-flight requests may still take after SIGTERM"
    )
    workers: int = Field(
        default_factory=default_workers, ge=1, le=256, description="processes sharing the port"
    )
    ready_file: Path | None = Field(
        None, description="once listening, write the bound address here as JSON (atomically)"
    )

    @field_validator("chaos")
    @classmethod
    def chaos_parses(cls, value: str | None) -> str | None:
        """A fault-injection spec with a typo fails at startup, not in the middleware."""
        if value:
            from upslice.chaos import ChaosConfig

            ChaosConfig.parse(value)
        return value

    form_max_size: int = Field(
        100 * MiB, ge=0, description="largest multipart body POST /api/upload accepts (all files)"
    )
    tus_keep_partials: bool = Field(
        False, description="keep tus partial uploads once a final upload has joined them"
    )
    metrics_token: str | None = Field(
        None, description="Bearer token /metrics requires (needed off loopback)"
    )
    metrics_listen: str | None = Field(
        None, description="HOST:PORT serving /metrics apart from the main port"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one object per line, with request and upload ids"
    )
    inspector: Literal["auto", "on", "off"] = Field(
        "auto", description="/inspect: auto = with the demo while bound to loopback"
    )
    inspector_token: str | None = Field(
        None, description="token /inspect requires; needed with --inspector on off loopback"
    )

    hooks_url: str | None = Field(None, description="POST every hook event as JSON to this URL")
    hooks_secret: str | None = Field(
        None, description="sign hook requests: Upslice-Signature, HMAC-SHA256"
    )
    hooks_dir: Path | None = Field(
        None, description="run the executable named after each event, JSON on stdin"
    )
    hooks_events: str | None = Field(
        None, description="comma-separated events to send; default: all but pre-access"
    )
    hooks_timeout: float = Field(
        5, gt=0, description="seconds a hook may take; a blocking one then refuses with 503"
    )
    auth: Literal["none", "jwt", "hook"] = "none"
    jwt_secret: str | None = Field(None, description="HS256 key for --auth jwt")
    jwks_url: str | None = Field(None, description="JWKS with RS256/ES256 keys for --auth jwt")
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    url_secret: str | None = Field(
        None, description="key for signed download URLs; default: derived or kept in data_dir"
    )
    download_url_seconds: float = Field(
        600, gt=0, description="how long a signed download URL works"
    )

    @model_validator(mode="after")
    def _auth_needs_a_key(self) -> Settings:
        if self.auth == "jwt" and (self.jwt_secret is None) == (self.jwks_url is None):
            raise ValueError("--auth jwt needs exactly one of --jwt-secret and --jwks-url")
        return self

    store: str | None = Field(
        None, description="s3://bucket/prefix for object storage; default: files in data_dir"
    )
    s3_endpoint: str | None = Field(None, description="S3 endpoint URL (MinIO, R2, moto)")
    s3_region: str | None = Field(None, description="S3 region; default: the AWS chain's")
    s3_path_style: bool = Field(False, description="path-style S3 addressing (MinIO, moto)")
    s3_max_attempts: int = Field(
        6, ge=1, description="S3: tries per request (botocore backoff) before a 503"
    )
    s3_hash_wait_seconds: float = Field(
        15, gt=0, description="S3: a chunk waits this long for the hash to reach it, then is kept"
    )

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "upslice.db"
