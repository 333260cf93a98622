from __future__ import annotations

import ctypes.util
import hashlib
import logging
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upslice import hashstate
from upslice.hashstate import BACKENDS, ResumableHasher

ALGORITHMS = ("md5", "sha256")


def test_libcrypto_is_the_backend_here() -> None:
    """CI runs on Debian, whose Python links libcrypto 3: the fast path must be the one in use."""
    assert hashstate.BACKEND == "openssl"
    assert list(BACKENDS) == ["openssl", "rehashes"]


@settings(deadline=None)  # timing-free: the machine may be busy
@given(
    algorithm=st.sampled_from(ALGORITHMS),
    data=st.binary(max_size=2000),
    steps=st.lists(
        st.tuples(st.integers(0, 2000), st.sampled_from(["keep", "peek", *BACKENDS])),
        max_size=8,
    ),
)
def test_any_split_and_any_resume_equals_hashlib(
    algorithm: str, data: bytes, steps: list[tuple[int, str]]
) -> None:
    """Cut the data anywhere; at each cut peek at the digest or move the state to a backend."""
    hasher = ResumableHasher(algorithm)
    done = 0
    for cut, action in sorted(steps):
        cut = min(cut, len(data))
        hasher.update(memoryview(data)[done:cut] if cut % 2 else data[done:cut])
        done = cut
        if action == "peek":
            assert hasher.hexdigest() == hashlib.new(algorithm, data[:done]).hexdigest()
        elif action != "keep":
            hasher = ResumableHasher.deserialize(hasher.serialize(), backend=action)
            assert (hasher.algorithm, hasher.backend) == (algorithm, action)
    hasher.update(data[done:])
    assert hasher.hexdigest() == hashlib.new(algorithm, data).hexdigest()


CONTINUE = """
import sys
from pathlib import Path
from upslice.hashstate import ResumableHasher
state, data = Path(sys.argv[1]), Path(sys.argv[2])
hasher = ResumableHasher.deserialize(state.read_bytes())
hasher.update(data.read_bytes())
state.write_bytes(hasher.serialize())
print(hasher.hexdigest())
"""


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_state_continues_in_a_fresh_process(tmp_path: Path, algorithm: str, backend: str) -> None:
    parts = [bytes(range(256)) * 7 + b"x", b"y" * 1000 + b"z" * 37, b"tail" * 99]
    state, chunk = tmp_path / "state", tmp_path / "chunk"
    hasher = ResumableHasher(algorithm, backend=backend)
    hasher.update(parts[0])
    state.write_bytes(hasher.serialize())
    chunk.write_bytes(parts[1])
    child = subprocess.run(
        [sys.executable, "-c", CONTINUE, str(state), str(chunk)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert child.stdout.strip() == hashlib.new(algorithm, parts[0] + parts[1]).hexdigest()
    resumed = ResumableHasher.deserialize(state.read_bytes(), backend=backend)
    resumed.update(parts[2])
    assert resumed.hexdigest() == hashlib.new(algorithm, b"".join(parts)).hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_empty_input(algorithm: str, backend: str) -> None:
    hasher = ResumableHasher(algorithm, backend=backend)
    hasher.update(b"")
    hasher.update(memoryview(b""))
    assert hasher.hexdigest() == hashlib.new(algorithm).hexdigest()
    again = ResumableHasher.deserialize(hasher.serialize(), backend=backend)
    assert again.hexdigest() == hashlib.new(algorithm).hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_large_blocks_as_bytes_and_memoryviews(algorithm: str) -> None:
    big = bytes(range(251)) * (40 * 4096 + 3)  # ~40 MiB, not a multiple of 64
    writable = bytearray(big[:5_000_001])
    hasher = ResumableHasher(algorithm)
    hasher.update(big)
    hasher.update(memoryview(big)[7 : 9 * 1024 * 1024 + 7])  # read-only, offset slice
    hasher.update(memoryview(writable))
    expected = hashlib.new(algorithm, big)
    expected.update(big[7 : 9 * 1024 * 1024 + 7])
    expected.update(writable)
    assert hasher.hexdigest() == expected.hexdigest()


def test_update_lets_other_threads_run() -> None:
    """While update() hashes a block, another Python thread gets the GIL.

    Timing-free: with a huge switch interval the interpreter never forces a thread switch, so
    the watcher can only observe `inside` if update() itself let go of the GIL.
    """
    hasher = ResumableHasher("md5")
    block = bytes(8 * 1024 * 1024)
    flags = {"inside": False, "stop": False}
    seen = 0

    def watch() -> None:
        nonlocal seen
        while not flags["stop"]:
            seen += flags["inside"]
            time.sleep(0)  # lets go of the GIL, so the main thread gets on

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        watcher = threading.Thread(target=watch)
        watcher.start()
        flags["inside"] = True
        hasher.update(block)
        flags["inside"] = False
        flags["stop"] = True
        watcher.join()
    finally:
        sys.setswitchinterval(interval)
    assert seen > 0
    assert hasher.hexdigest() == hashlib.md5(block).hexdigest()


def test_digest_does_not_consume_the_state() -> None:
    hasher = ResumableHasher("sha256")
    hasher.update(b"abc")
    assert hasher.hexdigest() == hasher.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    hasher.update(b"def")
    assert hasher.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


def test_unknown_algorithm_or_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="md5, sha256"):
        ResumableHasher("sha1")
    with pytest.raises(ValueError, match="not available"):
        ResumableHasher("md5", backend="nope")


def blob(algorithm: str = "md5", data: bytes = b"hello world" * 10) -> bytes:
    hasher = ResumableHasher(algorithm)
    hasher.update(data)
    return hasher.serialize()


def resealed(body: bytes) -> bytes:
    """A blob with a valid CRC-32 around whatever body: reaches the checks behind the CRC."""
    return body + struct.pack("<I", zlib.crc32(body))


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(ValueError, match="hash state"):
        ResumableHasher.deserialize(garbage)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_truncation_and_bit_flip_is_refused(algorithm: str) -> None:
    good = blob(algorithm)
    for size in range(len(good)):
        with pytest.raises(ValueError, match="hash state"):
            ResumableHasher.deserialize(good[:size])
    for bit in range(len(good) * 8):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << bit % 8
        with pytest.raises(ValueError, match="hash state"):
            ResumableHasher.deserialize(bytes(flipped))


def test_wrong_tags_and_lengths_are_refused_behind_a_valid_crc() -> None:
    body = blob("md5")[:-4]
    for position, value in ((3, 2), (4, 0), (4, 3)):  # version, algorithm tags
        with pytest.raises(ValueError, match="unknown"):
            ResumableHasher.deserialize(resealed(body[:position] + bytes([value]) + body[5:]))
    empty = blob("md5", b"")[:-4]
    with pytest.raises(ValueError, match="too short"):  # an md5 state under the sha256 tag
        ResumableHasher.deserialize(resealed(empty[:4] + b"\x02" + empty[5:]))
    with pytest.raises(ValueError, match="inconsistent length"):
        ResumableHasher.deserialize(resealed(body + b"x"))
    with pytest.raises(ValueError, match="inconsistent length"):
        ResumableHasher.deserialize(resealed(body[:-1]))


def test_without_usable_libcrypto_it_falls_back_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    libz = ctypes.util.find_library("z")  # a real library, but without MD5_Init
    assert libz is not None
    with caplog.at_level(logging.WARNING, logger="upslice.hashstate"):
        backends = hashstate._choose([libz, "/nonexistent/libcrypto.so.3"])
    assert list(backends) == ["rehashes"]
    assert "falling back to rehashes" in caplog.text
    assert "MD5_Init" in caplog.text and "/nonexistent" in caplog.text
