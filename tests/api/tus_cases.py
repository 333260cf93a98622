"""Declarative request/expected-response cases for protocol tables, and the uploads they target."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

TUS = {"Tus-Resumable": "1.0.0"}
DRAFT = {"Upload-Draft-Interop-Version": "8"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}
ANY = object()  # the header must be present, any value
ABSENT = None  # the header must not be present


@dataclass(frozen=True)
class Case:
    """One request against a `target` upload and what the response must look like.

    `target`: "collection" (/files/), "missing", or a kind of upload `make_target` builds.
    `headers` values may contain "{url}" (the target's absolute URL).
    `then_offset`: the Upload-Offset a HEAD must report afterwards (None: not checked).
    """

    name: str
    method: str
    target: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    expect: dict[str, object] = field(default_factory=dict)
    then_offset: int | None = None
    then_status: int | None = None  # status of a HEAD afterwards (e.g. 404 after DELETE)

    def __str__(self) -> str:
        return self.name


def create(client: httpx.Client, headers: dict[str, str], body: bytes = b"") -> str:
    response = client.post("/files/", headers={**TUS, **headers}, content=body)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def make_target(client: httpx.Client, target: str) -> str:
    """The absolute URL of a fresh upload of the named kind (10 bytes long unless deferred)."""
    if target == "collection":
        return f"{client.base_url}/files/"
    if target == "missing":
        return f"{client.base_url}/files/AAAAAAAAAAAAAAAAAAAAAA"
    if target == "fresh":
        return create(client, {"Upload-Length": "10"})
    if target == "half":
        return create(client, {"Upload-Length": "10", **OCTETS}, b"01234")
    if target == "done":
        return create(client, {"Upload-Length": "10", **OCTETS}, b"0123456789")
    if target == "deferred":
        return create(client, {"Upload-Defer-Length": "1"})
    if target == "meta":
        return create(client, {"Upload-Length": "10", "Upload-Metadata": "filename YS50eHQ=,flag"})
    if target == "partial":
        return create(client, {"Upload-Length": "10", "Upload-Concat": "partial"})
    if target == "final":
        parts = [
            create(client, {"Upload-Length": "3", "Upload-Concat": "partial", **OCTETS}, body)
            for body in (b"abc", b"def")
        ]
        return create(client, {"Upload-Concat": "final;" + " ".join(parts)})
    if target.startswith("draft-"):
        return make_draft_target(client, target.removeprefix("draft-"))
    raise ValueError(target)


def make_draft_target(client: httpx.Client, target: str) -> str:
    """Uploads created with the IETF draft: fresh, half (5 of 10), deferred (3 in), done."""
    incomplete = {**DRAFT, "Upload-Complete": "?0"}
    if target == "fresh":
        return create(client, {**incomplete, "Upload-Length": "10"})
    if target == "half":
        return create(client, {**incomplete, "Upload-Length": "10"}, b"01234")
    if target == "deferred":
        return create(client, incomplete, b"abc")
    if target == "done":
        return create(client, {**DRAFT, "Upload-Complete": "?1"}, b"0123456789")
    raise ValueError(target)


def check(client: httpx.Client, case: Case) -> None:
    url = make_target(client, case.target)
    headers = {k: v.replace("{url}", url) for k, v in case.headers.items()}
    response = client.request(case.method, url, headers=headers, content=case.body)
    assert response.status_code == case.status, response.text
    assert response.headers.get("Tus-Resumable") == "1.0.0"
    for name, wanted in case.expect.items():
        got = response.headers.get(name)
        if wanted is ANY:
            assert got is not None, f"{name} missing"
        else:
            assert got == wanted, f"{name}: {got!r} != {wanted!r}"
    if case.then_offset is not None or case.then_status is not None:
        head = client.head(url, headers=TUS)
        if case.then_status is not None:
            assert head.status_code == case.then_status
        if case.then_offset is not None:
            assert head.headers["Upload-Offset"] == str(case.then_offset)
