"""Hooks: upslice tells your app about uploads (post-*) and asks it (pre-*).

Three deliveries implement the same `Hooks` protocol: HTTP (`--hooks-url`), a command per
event (`--hooks-dir`) and Python objects (`create_app(..., hooks=MyHooks())`).
"""

from __future__ import annotations

from upslice.hooks.base import Hooks
from upslice.hooks.events import (
    BLOCKING,
    DEFAULT_EVENTS,
    EVENTS,
    NON_BLOCKING,
    Decision,
    HookEvent,
    HookFailed,
    HookRefused,
    HookRequest,
    HookTimeout,
)

__all__ = [
    "BLOCKING",
    "DEFAULT_EVENTS",
    "EVENTS",
    "NON_BLOCKING",
    "Decision",
    "HookEvent",
    "HookFailed",
    "HookRefused",
    "HookRequest",
    "HookTimeout",
    "Hooks",
]
