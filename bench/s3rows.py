"""S3 rows for bench/run.py: upslice on `--store s3://...` against moto's server.

moto is a test server (objects in RAM, one Python process), so its seconds are no speed
reference. What these rows measure is what does not depend on the S3 implementation: the bytes
upslice reads back from S3 per uploaded byte (0 for the whole-file hash: every chunk is hashed
from the request's own spooled bytes), tails of tus appends re-read as incomplete parts, and the
server's peak RSS with 4 streams.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.s3_server import CREDENTIALS, MotoServer
from tests.server_process import ServerProcess

from rows import MiB, Row, peak_rss
from run import tasks_row, tus_upload

LABEL = "S3 on moto (not a speed reference)"


def s3_rows(path: Path, digest: str, size: int, workdir: Path) -> list[Row]:
    moto = MotoServer(workdir).start()
    args = (*moto.server_args(moto.new_bucket()), "--log-level", "warning")
    server = ServerProcess(workdir / "s3-node", *args, env=CREDENTIALS).start()
    rows = []
    try:
        assert server.proc is not None
        for streams in (1, 4):
            before = _counters(server)
            row, _ = tasks_row(server, path, digest, size, streams, 8 * MiB)
            row.name = f"{LABEL}: tasks API, {streams} stream{'s' if streams > 1 else ''}"
            row.peak_rss = peak_rss(server.proc.pid)
            row.note = _read_back(before, _counters(server), size)
            rows.append(row)
        before = _counters(server)
        seconds = tus_upload(f"{server.url}/files/", path, size, MiB)
        row = Row(f"{LABEL}: tus, 1 MiB PATCHes", seconds, size, peak_rss(server.proc.pid))
        row.note = _read_back(before, _counters(server), size)
        rows.append(row)
    finally:
        server.stop()
        moto.stop()
    return rows


def _counters(server: ServerProcess) -> dict[str, int]:
    counters: dict[str, int] = httpx.get(f"{server.url}/health").json()["counters"]
    return counters


def _read_back(before: dict[str, int], after: dict[str, int], size: int) -> str:
    hashed = after["s3_bytes_read_back"] - before["s3_bytes_read_back"]
    tails = after["s3_tail_bytes_read"] - before["s3_tail_bytes_read"]
    return f"read back for the hash: {hashed} B; tus tails re-read: {tails / size:.2f} B per byte"
