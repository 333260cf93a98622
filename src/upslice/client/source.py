"""A file to upload, read by offset so that several workers can share it."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

PathOrFile = str | os.PathLike[str] | BinaryIO


class Source:
    """Random access to a path (pread, no shared position) or a seekable binary file object."""

    def __init__(self, what: PathOrFile) -> None:
        self._owned = not hasattr(what, "read")
        if self._owned:
            path = Path(what)  # type: ignore[arg-type]
            self.file: BinaryIO = open(path, "rb")
            self.name = path.name
            self.path: Path | None = path.resolve()
        else:
            self.file = what  # type: ignore[assignment]
            self.name = Path(str(getattr(what, "name", "upload.bin"))).name or "upload.bin"
            self.path = None
        self.file.seek(0, os.SEEK_END)
        self.size = self.file.tell()
        self._lock = threading.Lock()
        self._fd = self.file.fileno() if self._owned else None

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset`; safe to call from several threads at once."""
        if self._fd is not None:
            return os.pread(self._fd, length, offset)
        with self._lock:
            self.file.seek(offset)
            return self.file.read(length)

    def read_exactly(self, offset: int, length: int) -> bytes:
        data = self.read(offset, length)
        if len(data) != length:
            raise OSError(f"{self.name} is shorter than expected (it changed while uploading?)")
        return data

    def stat_key(self) -> str:
        """size and mtime of a path, to notice a file that changed since it was hashed."""
        if self.path is None:
            return f"{self.size}"
        info = self.path.stat()
        return f"{info.st_size}:{info.st_mtime_ns}"

    def close(self) -> None:
        if self._owned:
            self.file.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
