"""What differs between the resumable-upload draft's interop versions 3 to 8.

A client names its interop version on every request (`Upload-Draft-Interop-Version`); the same
upload resources answer each request in that version's terms. The versions and the drafts that
define them (each draft states "The current interop version is N"):

  3: draft-ietf-httpbis-resumable-upload-01   `Upload-Incomplete` (?1 while incomplete)
  4: -02                                      `Upload-Complete` replaces it
  5: -03                                      200 allowed for offset retrieval
  6: -04, -05   PATCH must be `application/partial-upload`; `Upload-Limit` (`expires`);
                `Upload-Length` (-05); problem types for offsets and completed uploads
  7: -06 to -08 `max-age` replaces `expires`; inconsistent-length problem type; append
                responses are any 2xx (201 before)
  8: -09 onward the 104 section, `Upload-Limit` required

All of them announce a creation with `104 (Upload Resumption Supported)`; 103 appears in the
drafts only as a rejected alternative. None completes an upload because its offset reached a
known length: only a request that says so (`Upload-Complete: ?1` / no `Upload-Incomplete`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.requests import Request

from upslice.errors import InvalidInput

LATEST = 8


@dataclass(frozen=True)
class Dialect:
    """One interop version's header names and rules."""

    version: int
    drafts: str
    inverted: bool  # `Upload-Incomplete: ?1` instead of `Upload-Complete: ?0`
    partial_upload_type: bool  # PATCH bodies must be application/partial-upload
    upload_length: bool  # the `Upload-Length` header exists
    upload_limit: bool  # the `Upload-Limit` header exists
    age_key: str  # the Upload-Limit key for the remaining lifetime
    append_status: int  # success status of an append that leaves the upload incomplete
    completed_status: int  # success status of an append that completes the upload
    flag_required_on_append: bool  # a PATCH without the completion flag is a 400
    typed_problems: frozenset[str]  # problem types the draft defines
    rejects_state_headers: bool  # HEAD/DELETE carrying Upload-Offset etc. are a 400

    @property
    def flag(self) -> str:
        return "Upload-Incomplete" if self.inverted else "Upload-Complete"

    def flag_value(self, complete: bool) -> str:
        """The value of `flag` saying whether the upload is complete."""
        return "?1" if complete != self.inverted else "?0"

    def state_headers(self) -> tuple[str, ...]:
        """Request headers a HEAD or DELETE must not carry in this version."""
        return ("Upload-Offset", self.flag, *(("Upload-Length",) if self.upload_length else ()))


_OFFSET = "mismatching-upload-offset"
_COMPLETED = "completed-upload"
_LENGTH = "inconsistent-upload-length"
V4 = Dialect(
    version=4,
    drafts="draft-02",
    inverted=False,
    partial_upload_type=False,
    upload_length=False,
    upload_limit=False,
    age_key="",
    append_status=201,
    completed_status=201,
    flag_required_on_append=False,
    typed_problems=frozenset(),
    rejects_state_headers=True,
)
V6 = replace(
    V4,
    version=6,
    drafts="draft-04 and -05",
    partial_upload_type=True,
    upload_length=True,
    upload_limit=True,
    age_key="expires",
    typed_problems=frozenset({_OFFSET, _COMPLETED}),
)
V7 = replace(
    V6,
    version=7,
    drafts="draft-06 to -08",
    age_key="max-age",
    append_status=204,
    completed_status=200,
    flag_required_on_append=True,
    typed_problems=frozenset({_OFFSET, _COMPLETED, _LENGTH}),
    rejects_state_headers=False,
)
DIALECTS = {
    3: replace(V4, version=3, drafts="draft-01", inverted=True),
    4: V4,
    5: replace(V4, version=5, drafts="draft-03"),
    6: V6,
    7: V7,
    8: replace(V7, version=8, drafts="draft-09 onward"),
}
SUPPORTED = sorted(DIALECTS)


def dialect_of(request: Request) -> Dialect:
    """The dialect the request names; a 400 naming the supported versions otherwise."""
    value = request.headers.get("upload-draft-interop-version", "").strip()
    dialect = DIALECTS.get(int(value)) if value.isdigit() and value.isascii() else None
    if dialect is None:
        raise InvalidInput(
            f"Upload-Draft-Interop-Version {value!r} is not supported; "
            f"this server implements {', '.join(map(str, SUPPORTED))}",
            supported=SUPPORTED,
        )
    return dialect
