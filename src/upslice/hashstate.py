"""MD5 / SHA-256 whose running state can be saved to bytes and continued in another process.

Why: whichever worker extends an upload's received prefix must continue the whole-file hash
from a checkpoint in the MetaStore, and hashlib objects cannot be serialized. OpenSSL's
low-level `MD5_CTX` / `SHA256_CTX` (public structs in md5.h / sha.h, deprecated in 3.0 but a
stable ABI) are plain data, so we drive them through ctypes, which releases the GIL during
each call: several uploads hash in parallel. The struct layout is checked against hashlib at
import; if libcrypto is missing or fails that check we fall back to `rehashes` (Rust, correct,
but it holds the GIL) and log a warning.

A blob is backend- and byte-order-neutral, so a checkpoint written on one node resumes on any:
  b"UHS" | version u8 | algorithm u8 | chaining words u32[4 or 8] | bytes hashed u64
  | the bytes of the unfinished 64-byte block (bytes hashed % 64 of them) | CRC-32 of all before
All integers are little-endian.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import logging
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("upslice.hashstate")

_MAGIC, _VERSION = b"UHS", 1
_CODES = {"md5": 1, "sha256": 2}  # the algorithm tag in a blob
_WORDS = {"md5": 4, "sha256": 8}  # 32-bit chaining words
_BLOCK = 64  # both algorithms work on 64-byte blocks
_MAX_LENGTH = 2**61 - 1  # the bit count is 64 bits wide


@dataclass(frozen=True)
class _State:
    """All any implementation needs to continue: chaining words, length, unfinished block."""

    words: tuple[int, ...]
    length: int
    pending: bytes


class _Context(Protocol):
    def update(self, data: bytes | memoryview) -> None: ...
    def hexdigest(self) -> str: ...
    def export(self) -> _State: ...


_Backend = Callable[[str, "_State | None"], _Context]


def _struct(words: int, *tail: str) -> type[ctypes.Structure]:
    """MD5_CTX / SHA256_CTX as md5.h / sha.h declare them, and a guard if a build's is larger."""
    fields = [("h", ctypes.c_uint32 * words), ("Nl", ctypes.c_uint32), ("Nh", ctypes.c_uint32)]
    fields += [("data", ctypes.c_uint8 * _BLOCK), *((name, ctypes.c_uint) for name in tail)]
    return type("Ctx", (ctypes.Structure,), {"_fields_": [*fields, ("guard", ctypes.c_uint8 * 64)]})


_STRUCTS = {"md5": _struct(4, "num"), "sha256": _struct(8, "num", "md_len")}


_P, _N, _I = ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int
_PY_BUFFER = "buf obj len itemsize readonly ndim format shape strides suboffsets internal".split()
# Py_buffer from Include/pybuffer.h (stable ABI since 3.11): how C gets at a memoryview's bytes.
_PyBuffer = type(
    "Py_buffer",
    (ctypes.Structure,),
    {"_fields_": list(zip(_PY_BUFFER, (_P, _P, _N, _N, _I, _I, _P, _P, _P, _P, _P), strict=True))},
)


class _OpenSSLContext:
    def __init__(self, functions: dict[str, Any], algorithm: str, state: _State | None) -> None:
        self._init, self._update, self._final = functions[algorithm]
        self._ctx = _STRUCTS[algorithm]()
        self._size = 4 * _WORDS[algorithm]  # the digest is the final chaining words
        self._init(ctypes.byref(self._ctx))
        if state is not None:
            bits = state.length * 8
            self._ctx.h[:] = state.words
            self._ctx.Nl, self._ctx.Nh = bits & 0xFFFFFFFF, bits >> 32
            ctypes.memmove(self._ctx.data, state.pending, len(state.pending))
            self._ctx.num = len(state.pending)

    def update(self, data: bytes | memoryview) -> None:
        if isinstance(data, bytes):  # ctypes hands a bytes object's own buffer to C
            self._update(ctypes.byref(self._ctx), data, len(data))
            return
        view = _PyBuffer()  # any C-contiguous buffer, read-only ones too, without a copy
        ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(data), ctypes.byref(view), 0)
        try:
            self._update(ctypes.byref(self._ctx), view.buf or 0, view.len)
        finally:
            ctypes.pythonapi.PyBuffer_Release(ctypes.byref(view))

    def hexdigest(self) -> str:
        copy = type(self._ctx).from_buffer_copy(self._ctx)  # Final wipes the context it ends
        out = ctypes.create_string_buffer(self._size)
        self._final(out, ctypes.byref(copy))
        return out.raw.hex()

    def export(self) -> _State:
        ctx = self._ctx
        return _State(tuple(ctx.h), (ctx.Nh << 32 | ctx.Nl) >> 3, bytes(ctx.data)[: ctx.num])


def _succeeded(result: int, function: Any, _: Any) -> int:
    if result != 1:
        raise RuntimeError(f"libcrypto's {function.__name__} failed")
    return result


def _openssl(path: str) -> _Backend:
    """Bind MD5_* and SHA256_* of one libcrypto; CDLL (not PyDLL) releases the GIL per call."""
    library, functions = ctypes.CDLL(path), {}
    for algorithm, prefix in (("md5", "MD5"), ("sha256", "SHA256")):
        steps = [getattr(library, f"{prefix}_{step}") for step in ("Init", "Update", "Final")]
        steps[0].argtypes = [ctypes.c_void_p]
        steps[1].argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        steps[2].argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        for step in steps:
            step.restype, step.errcheck = ctypes.c_int, _succeeded
        functions[algorithm] = steps
    return functools.partial(_OpenSSLContext, functions)


class _RehashesContext:
    """rehashes' own layout: words u32 LE | full blocks u64 LE | pos u8 | 63-byte buffer."""

    def __init__(self, algorithm: str, state: _State | None) -> None:
        import rehashes  # only on the fallback path, and in tests

        kind = rehashes.PyMd5 if algorithm == "md5" else rehashes.PySha256
        self._words = _WORDS[algorithm]
        if state is None:
            self._hasher = kind()
            return
        blocks, pending = state.length // _BLOCK, state.pending
        head = struct.pack(f"<{self._words}IQB", *state.words, blocks, len(pending))
        self._hasher = kind.deserialize(head + pending.ljust(_BLOCK - 1, b"\0"))

    def update(self, data: bytes | memoryview) -> None:
        self._hasher.update(data if isinstance(data, bytes) else bytes(data))

    def hexdigest(self) -> str:
        return str(self._hasher.finalize())  # rehashes finalizes a copy

    def export(self) -> _State:
        raw = bytes(self._hasher.serialize())
        *words, blocks, pos = struct.unpack_from(f"<{self._words}IQB", raw)
        start = self._words * 4 + 9
        if len(raw) != start + _BLOCK - 1 or pos >= _BLOCK:
            raise RuntimeError("unexpected rehashes state layout")
        return _State(tuple(words), blocks * _BLOCK + pos, raw[start : start + pos])


def _encode(algorithm: str, state: _State) -> bytes:
    layout = f"<3sBB{len(state.words)}IQ"
    head = struct.pack(layout, _MAGIC, _VERSION, _CODES[algorithm], *state.words, state.length)
    return head + state.pending + struct.pack("<I", zlib.crc32(head + state.pending))


def _decode(blob: bytes) -> tuple[str, _State]:
    if len(blob) < 9 or blob[:3] != _MAGIC:
        raise ValueError("not a hash state written by upslice")
    body, (crc,) = blob[:-4], struct.unpack("<I", blob[-4:])
    if zlib.crc32(body) != crc:
        raise ValueError("hash state is corrupt or truncated (CRC-32 mismatch)")
    algorithm = next((name for name, code in _CODES.items() if code == body[4]), None)
    if body[3] != _VERSION or algorithm is None:
        raise ValueError(f"hash state has version {body[3]}, algorithm tag {body[4]}: unknown")
    fixed = 5 + 4 * _WORDS[algorithm] + 8
    if len(body) < fixed:
        raise ValueError(f"hash state is too short for {algorithm}")
    *words, length = struct.unpack_from(f"<{_WORDS[algorithm]}IQ", body, 5)
    if length > _MAX_LENGTH or len(body) != fixed + length % _BLOCK:
        raise ValueError(f"{algorithm} hash state has an inconsistent length")
    return algorithm, _State(tuple(words), length, body[fixed:])


def _self_check(name: str, backend: _Backend) -> None:
    """Hash a known vector, moving the state through a blob mid-way; compare with hashlib."""
    vector = bytes(range(256)) * 5
    for algorithm in _CODES:
        first = backend(algorithm, None)
        first.update(vector[:100])
        state = first.export()
        resumed = backend(algorithm, _decode(_encode(algorithm, state))[1])
        resumed.update(memoryview(vector)[100:])
        first.update(vector[100:])
        want = hashlib.new(algorithm, vector).hexdigest()
        if (state.length, state.pending) != (100, vector[64:100]) or not (
            resumed.hexdigest() == first.hexdigest() == first.hexdigest() == want
        ):
            raise RuntimeError(f"{name} {algorithm} state does not round-trip")
        if isinstance(first, _OpenSSLContext) and any(first._ctx.guard):
            raise RuntimeError(f"libcrypto's {algorithm} context is larger than its header says")


def _libcrypto_paths() -> Iterator[str]:
    """The libcrypto Python's own _hashlib loaded, else the linker's (find_library forks)."""
    with contextlib.suppress(ImportError):
        import _hashlib  # noqa: F401  (maps libcrypto into this process)
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        yield from dict.fromkeys(line.split()[-1] for line in maps if "/libcrypto" in line)
    if found := ctypes.util.find_library("crypto"):
        yield found


def _choose(paths: Iterable[str]) -> dict[str, _Backend]:
    """Every usable backend by name, the preferred one first."""
    problems = []
    for path in paths:
        try:
            backend = _openssl(path)
            _self_check("openssl", backend)
            return {"openssl": backend, "rehashes": _RehashesContext}
        except Exception as exc:  # whatever went wrong, it is logged and the fallback serves
            problems.append(f"{path}: {exc}")
    reason = "; ".join(problems) or "no libcrypto found"
    log.warning("libcrypto unusable (%s): falling back to rehashes, which holds the GIL", reason)
    _self_check("rehashes", _RehashesContext)
    return {"rehashes": _RehashesContext}


BACKENDS = _choose(_libcrypto_paths())
BACKEND = next(iter(BACKENDS))  # the one used unless told otherwise


class ResumableHasher:
    """md5 or sha256 whose state can be saved to bytes and restored in another process.

    `backend` (a key of BACKENDS) is for tests and benchmarks; the default is the preferred one.
    """

    def __init__(
        self, algorithm: str, *, backend: str | None = None, _state: _State | None = None
    ) -> None:
        if algorithm not in _CODES:
            raise ValueError(f"algorithm must be one of {', '.join(_CODES)}, not {algorithm!r}")
        self.algorithm, self.backend = algorithm, backend or BACKEND
        if self.backend not in BACKENDS:
            raise ValueError(f"hash backend {self.backend!r} is not available here")
        self._context = BACKENDS[self.backend](algorithm, _state)

    def update(self, data: bytes | memoryview) -> None:
        """Feed more data; with libcrypto the GIL is released while it is hashed."""
        self._context.update(data)

    def hexdigest(self) -> str:
        """The digest so far; the state stays usable (like hashlib)."""
        return self._context.hexdigest()

    def serialize(self) -> bytes:
        return _encode(self.algorithm, self._context.export())

    @classmethod
    def deserialize(cls, blob: bytes, *, backend: str | None = None) -> ResumableHasher:
        """Continue from what `serialize()` wrote; ValueError for anything else."""
        algorithm, state = _decode(bytes(blob))
        return cls(algorithm, backend=backend, _state=state)
