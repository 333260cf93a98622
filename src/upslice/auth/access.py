"""Who may touch uploads, decided once per request: identify (or verify a token), then ask
the pre-access hook, which may refuse or name another owner.

`create_app(identify=...)` is the simple case: it names the owner and nothing refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:  # PyJWT and cryptography load only when --auth jwt needs them
    from upslice.auth.tokens import TokenVerifier
    from upslice.hooks.runner import HookRunner
    from upslice.stores.base import MetaStore

Identify = Callable[[Request], Awaitable[str | None]]
UPLOAD_PARAMS = ("task_id", "upload_id")
_UNSET = object()


async def anonymous(request: Request) -> str | None:
    """The standalone default: no authentication, every upload is unowned."""
    return None


class Access:
    def __init__(
        self,
        identify: Identify,
        *,
        tokens: TokenVerifier | None = None,
        hooks: HookRunner | None = None,
        meta: MetaStore | None = None,
    ) -> None:
        self.identify = identify
        self.tokens = tokens
        self.hooks = hooks
        self.meta = meta

    async def owner(self, request: Request) -> str | None:
        """The request's owner; raises Unauthorized (401) or a hook's refusal."""
        cached = getattr(request.state, "upslice_owner", _UNSET)
        if cached is not _UNSET:  # front ends ask more than once per request
            return cached  # type: ignore[return-value]
        if self.tokens is not None:
            owner: str | None = await self.tokens.owner(request)
        else:
            owner = await self.identify(request)
        if self.hooks is not None and self.hooks.wants("pre-access"):
            owner = await self._pre_access(request, owner)
        request.state.upslice_owner = owner
        return owner

    async def _pre_access(self, request: Request, owner: str | None) -> str | None:
        upload_id = next(
            (request.path_params[p] for p in UPLOAD_PARAMS if p in request.path_params), None
        )
        upload = None
        if upload_id is not None and self.meta is not None:
            upload = await self.meta.get(upload_id)
        assert self.hooks is not None
        decision = await self.hooks.check(
            "pre-access",
            upload,
            access={"owner": owner, "uploadId": upload_id, "method": request.method},
        )
        return decision.owner if decision.sets_owner else owner
