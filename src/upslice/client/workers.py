"""Run jobs side by side; the first failure cancels the rest and is raised as itself."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


async def run_all(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Like a TaskGroup, but callers catch `RetriesExhausted`, not an `ExceptionGroup`."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
