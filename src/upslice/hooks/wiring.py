"""Hooks from the settings: which delivery, which events."""

from __future__ import annotations

from upslice.hooks.base import Delivery, Hooks
from upslice.hooks.command import CommandHooks
from upslice.hooks.events import EVENTS
from upslice.settings import Settings


def selected_events(settings: Settings, hooks: Hooks) -> set[str]:
    """`--hooks-events` if given; else what the delivery implements (an HTTP endpoint: every
    event but pre-access, which costs a call per request). `--auth hook` adds pre-access."""
    if settings.hooks_events:
        names = {n.strip() for n in settings.hooks_events.split(",") if n.strip()}
        unknown = sorted(names - set(EVENTS))
        if unknown:
            raise ValueError(
                f"unknown hook event(s) {', '.join(unknown)}; choose from {', '.join(EVENTS)}"
            )
    elif isinstance(hooks, Delivery) and hooks.default_events is not None:
        names = set(hooks.default_events)
    else:
        names = set(EVENTS)
    if settings.auth == "hook":
        names.add("pre-access")
    names &= hooks.handles()
    if settings.auth == "hook" and "pre-access" not in names:
        raise ValueError("--auth hook needs a pre-access hook, and this delivery has none")
    return names


def hooks_from(settings: Settings, python_hooks: Hooks | None) -> Hooks | None:
    """At most one delivery: a Python object given to create_app, a URL, or a directory."""
    given = [h for h in (python_hooks, settings.hooks_url, settings.hooks_dir) if h is not None]
    if len(given) > 1:
        raise ValueError("choose one hook delivery: hooks=, --hooks-url or --hooks-dir")
    if python_hooks is not None:
        return python_hooks
    if settings.hooks_url:
        from upslice.hooks.http import HttpHooks  # httpx only when hooks go over HTTP

        return HttpHooks(
            settings.hooks_url, secret=settings.hooks_secret, timeout=settings.hooks_timeout
        )
    if settings.hooks_dir is not None:
        if not settings.hooks_dir.is_dir():
            raise ValueError(f"--hooks-dir {settings.hooks_dir} is not a directory")
        return CommandHooks(settings.hooks_dir, timeout=settings.hooks_timeout)
    if settings.auth == "hook":
        raise ValueError("--auth hook needs a pre-access hook: set --hooks-url or --hooks-dir")
    return None
