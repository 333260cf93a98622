"""Command delivery (`--hooks-dir`), as tusd's file hooks: an executable named after the event
(`pre-create`, `post-finish`, ...) gets the event's JSON on stdin.

Exit 0 with a JSON decision on stdout decides (no output allows); another exit status is a
failure (502), and a command still running after `--hooks-timeout` is killed (503). Events
without an executable are not sent. The event name and id are also in `UPSLICE_EVENT` and
`UPSLICE_EVENT_ID`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from upslice.hooks.base import Delivery
from upslice.hooks.events import EVENTS, Decision, HookEvent, HookFailed, HookTimeout

log = logging.getLogger("upslice.hooks")


class CommandHooks(Delivery):
    def __init__(self, directory: Path, *, timeout: float = 5.0) -> None:
        self.directory = directory.resolve()  # the command runs inside it
        self.timeout = timeout

    def handles(self) -> set[str]:
        return {name for name in EVENTS if os.access(self.directory / name, os.X_OK)}

    async def deliver(self, event: HookEvent) -> Decision:
        command = self.directory / event.name
        if not os.access(command, os.X_OK):
            return Decision()
        env = {**os.environ, "UPSLICE_EVENT": event.name, "UPSLICE_EVENT_ID": event.id}
        process = await asyncio.create_subprocess_exec(
            str(command),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.directory,
        )
        try:
            out, err = await asyncio.wait_for(
                process.communicate(event.encode().encode()), self.timeout
            )
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise HookTimeout(
                f"the {event.name} hook command ran longer than {self.timeout:g} s",
                hook=event.name,
            ) from None
        if process.returncode != 0:  # its stderr goes to the log, never to the client
            log.warning(
                "hook %s exited with status %s: %s",
                command,
                process.returncode,
                err.decode("utf-8", "replace").strip()[-2000:],
            )
            raise HookFailed(
                f"the {event.name} hook command exited with status {process.returncode}",
                hook=event.name,
            )
        return Decision.parse(out, f"{event.name} hook command")
