"""Talking to S3: where (bucket, prefix, endpoint), how (retries) and what its errors mean.

Kept apart from the store so that the store reads as the upload's life cycle, not as wire
details. Credentials never appear here: botocore's standard chain finds them (AWS_* env vars,
~/.aws profiles, instance roles), so no secret passes through upslice's settings or logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, EndpointConnectionError

from upslice.errors import NotFound, StoreBusy

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "503"}
MISSING = {"NoSuchKey", "NoSuchUpload", "404"}
RETRY_AFTER = 2  # seconds a client is told to wait once botocore's own retries gave up


class StoreUnavailable(RuntimeError):
    """The bucket cannot be used at all (missing, no access, endpoint down): a startup error."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending in "/"
    endpoint: str | None = None
    region: str | None = None
    path_style: bool = False
    max_attempts: int = 6  # botocore's standard retry mode: backoff with jitter between tries

    @classmethod
    def parse(
        cls,
        url: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        max_attempts: int = 6,
    ) -> S3Location:
        """`s3://bucket/prefix` -> its parts; anything else is a clear ValueError."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"expected s3://bucket/prefix, got {url!r}")
        prefix = parts.path.strip("/")
        base = f"{prefix}/" if prefix else ""
        return cls(parts.netloc, base, endpoint, region, path_style, max_attempts)

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


@contextlib.asynccontextmanager
async def connect(location: S3Location) -> AsyncIterator[S3Client]:
    """A client whose throttled calls botocore retries with backoff before they fail."""
    config = AioConfig(
        retries={"max_attempts": location.max_attempts, "mode": "standard"},
        s3={"addressing_style": "path" if location.path_style else "auto"},
        max_pool_connections=32,
    )
    session = get_session()
    async with session.create_client(
        "s3", endpoint_url=location.endpoint, region_name=location.region, config=config
    ) as client:
        yield client


def code_of(exc: ClientError) -> str:
    error: dict[str, Any] = dict(exc.response.get("Error", {}))
    return str(error.get("Code", ""))


def missing(exc: ClientError) -> bool:
    return code_of(exc) in MISSING


@contextlib.contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """S3's failures as engine errors: throttling is a 503 with Retry-After, a vanished
    object is a 404; anything else stays an exception (a server fault, logged)."""
    try:
        yield
    except ClientError as exc:
        code = code_of(exc)
        if code in THROTTLED:
            raise StoreBusy(
                f"object storage is throttling requests ({what}); retry shortly",
                retryAfter=RETRY_AFTER,
            ) from exc
        if code in MISSING:
            raise NotFound(f"the upload's data is gone ({what})") from exc
        raise
    except EndpointConnectionError as exc:
        raise StoreBusy(
            f"object storage is unreachable ({what}); retry shortly", retryAfter=RETRY_AFTER
        ) from exc


async def check_bucket(client: S3Client, location: S3Location) -> None:
    """Fail at startup with one sentence, rather than on the first upload with a traceback."""
    try:
        await client.head_bucket(Bucket=location.bucket)
    except ClientError as exc:
        code = code_of(exc)
        if code in {"404", "NoSuchBucket"}:
            reason = "does not exist"
        elif code in {"403", "AccessDenied"}:
            reason = "is not accessible with these credentials"
        else:
            reason = f"cannot be used ({code})"
        message = f"bucket {location.bucket!r} {reason}: {location.describe()}"
        raise StoreUnavailable(message) from None
    except EndpointConnectionError as exc:
        raise StoreUnavailable(f"cannot reach {location.describe()}: {exc}") from None
    except Exception as exc:  # e.g. no credentials found: botocore's message says which
        raise StoreUnavailable(f"cannot use {location.describe()}: {exc}") from None
