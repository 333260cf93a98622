"""Proof of possession, the client's side: answer a task's challenge from the local file.

When the server holds the file for another owner, a correct proof completes the task without
sending the file; when it does not, the answer is the unchanged task and the upload goes on.
"""

from __future__ import annotations

import asyncio
import hashlib

from upslice.client.api import TasksApi
from upslice.client.meter import Meter
from upslice.client.models import Challenge, Task
from upslice.client.source import Source

ALGORITHMS = {"sha256"}


def proof_for(source: Source, challenge: Challenge) -> str:
    """hex sha256 of the nonce's bytes followed by the file's bytes in each range, in order."""
    hasher = hashlib.sha256(bytes.fromhex(challenge.nonce))
    for start, end in challenge.ranges:
        hasher.update(source.read_exactly(start, end - start))
    return hasher.hexdigest()


def worth_proving(task: Task, size: int) -> bool:
    """Only for a fresh task of a file over one chunk: for one chunk, sending costs as much."""
    return (
        not task.done
        and task.challenge is not None
        and task.challenge.algorithm in ALGORITHMS
        and task.uploaded_bytes == 0
        and size > task.chunk_size
    )


async def prove_if_worth_it(client: TasksApi, task: Task, source: Source, meter: Meter) -> Task:
    """The task, completed at once if the server accepts the proof; unchanged otherwise."""
    if not worth_proving(task, source.size) or task.challenge is None:
        return task
    meter.start("proving")
    proof = await asyncio.to_thread(proof_for, source, task.challenge)
    return await client.prove(task.id, proof)
