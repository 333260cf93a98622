"""`AsyncClient`: the tasks API plus whole-file uploads and downloads; every other client is
built on this one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from upslice.client import chunked, download, overlapped, tus
from upslice.client.api import DEFAULT_SERVER, TasksApi
from upslice.client.meter import ProgressCallback
from upslice.client.models import Task
from upslice.client.source import PathOrFile

__all__ = ["DEFAULT_SERVER", "AsyncClient"]
UPLOADERS = {"tasks": overlapped.upload, "tus": tus.upload}


class AsyncClient(TasksApi):
    """An upslice server at `server` (the arguments are `TasksApi`'s): its tasks API plus
    whole-file uploads (tasks or tus protocol) and resumable, verified downloads."""

    # ---- whole files ---------------------------------------------------------------------

    async def upload(
        self,
        file: PathOrFile,
        *,
        concurrency: int = 4,
        chunk_size: int | None = None,
        hash_algorithm: str = "md5",
        metadata: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        protocol: str = "tasks",
        file_name: str | None = None,
        file_type: str | None = None,
        reuse: bool = True,
        hash_first: bool = False,
    ) -> Task:
        """Upload a path or a seekable binary file and return the finished task.

        Creates its task and sends chunks at once while the file is hashed beside them; the
        hash is declared as soon as it is known, and an instant upload (a file the server
        already holds) stops the sending there. A rerun of an interrupted upload of a path
        resumes its task (remembered in `$UPSLICE_STATE_DIR/uploads.json`, default
        `~/.local/state/upslice/`) and sends only the chunks the server lacks, `concurrency`
        at a time, retrying failed ones. Returns once the server has verified the whole file.
        `hash_first=True` hashes the whole file before creating the task instead: slower,
        but the upload is instant before a byte is sent when the server already holds the
        file, and its task is found again by hash (from any machine). A file you already
        uploaded under this name comes back as the same task (`reuse=False`: a new task
        sharing its bytes). `progress` is called on the event loop with `Progress` events.
        `protocol="tus"` uses the tus 1.0 endpoint at `<server>/files/` instead (it always
        hashes first).
        """
        if protocol not in UPLOADERS:
            raise ValueError(f"protocol must be 'tasks' or 'tus', not {protocol!r}")
        uploader = chunked.upload if protocol == "tasks" and hash_first else UPLOADERS[protocol]
        return await uploader(
            self,
            file,
            concurrency=concurrency,
            chunk_size=chunk_size,
            hash_algorithm=hash_algorithm,
            metadata=metadata,
            progress=progress,
            file_name=file_name,
            file_type=file_type,
            reuse=reuse,
        )

    async def download(
        self,
        task_id: str,
        path: str | Path,
        *,
        progress: ProgressCallback | None = None,
        overwrite: bool = True,
    ) -> Path:
        """Fetch a finished file to `path` (a directory, or a name ending in "/": under its
        own name there; missing parents are created), resuming a `.part` file left by an
        earlier attempt and verifying the task's hash before the file takes its final name.
        With `overwrite=False` an existing file raises FileExistsError. Returns the path."""
        into_dir = str(path).endswith(("/", os.sep))
        return await download.download(
            self, task_id, Path(path), progress=progress, into_dir=into_dir, overwrite=overwrite
        )

    async def stream(
        self, task_id: str, sink: BinaryIO, *, progress: ProgressCallback | None = None
    ) -> Task:
        """Write a finished file into a binary stream (e.g. `sys.stdout.buffer`), resuming
        after cuts; IntegrityError at the end if the bytes did not match the task's hash."""
        return await download.stream(self, task_id, sink, progress=progress)
