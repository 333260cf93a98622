"""`upslice serve --database-url postgresql://...` end to end: both protocols, records in PG."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx

from tests.server_process import ServerProcess
from tests.taskflow import chunk_of, create, put_chunk, random_bytes

CHUNK = 4096


def upload_rows(dsn: str) -> dict[str, str]:
    """Protocol of every record in the database, read behind the server's back."""

    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(dsn)
        try:
            return {row["id"]: row["protocol"] for row in await conn.fetch("SELECT * FROM uploads")}
        finally:
            await conn.close()

    return asyncio.run(read())


def test_server_on_postgresql_takes_a_tasks_and_a_tus_upload(
    tmp_path: Path, postgres_dsn: str
) -> None:
    server = ServerProcess(
        tmp_path / "data", "--min-chunk-size", "1024", "--database-url", postgres_dsn
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            data = random_bytes(3 * CHUNK + 100)
            task = create(http, data, CHUNK).json()
            for index in range(task["chunkCount"]):
                reply = put_chunk(http, task, index, chunk_of(data, task, index))
                assert reply.status_code == 200, reply.text
            assert reply.json()["done"]
            assert http.get(reply.json()["fileUrl"]).content == data

            body = random_bytes(2500)
            tus = {"Tus-Resumable": "1.0.0"}
            created = http.post("/files/", headers=tus | {"Upload-Length": str(len(body))})
            assert created.status_code == 201, created.text
            location = created.headers["Location"]
            patched = http.patch(
                location,
                content=body,
                headers=tus
                | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
            )
            assert patched.status_code == 204, patched.text
            head = http.head(location, headers=tus)
            assert head.headers["Upload-Offset"] == str(len(body))
            assert http.get(location).content == body
    finally:
        server.stop()
    rows = upload_rows(postgres_dsn)
    assert sorted(rows.values()) == ["tasks", "tus"] and task["id"] in rows
    assert not (tmp_path / "data" / "upslice.db").exists()  # no SQLite beside the data
