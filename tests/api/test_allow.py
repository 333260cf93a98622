"""`Allow` names every method a path serves, and OPTIONS is never answered with 405."""

from __future__ import annotations

import httpx
import pytest

from tests.api.tus_cases import TUS

ALL = {"OPTIONS", "HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"}
ROUTES = {
    "/api/task": {"OPTIONS", "POST"},
    "/api/tasks": {"OPTIONS", "GET"},
    "/api/task/some-id": {"OPTIONS", "GET", "DELETE"},
    "/api/task/some-id/chunk/0": {"OPTIONS", "PUT"},
    "/api/task/some-id/complete": {"OPTIONS", "POST"},
    "/api/task/some-id/file": {"OPTIONS", "HEAD", "GET"},
    "/files/": {"OPTIONS", "POST"},
    "/files/some-id": {"OPTIONS", "HEAD", "GET", "PATCH", "DELETE", "POST"},
    "/health": {"OPTIONS", "GET"},
}


def allow(response: httpx.Response) -> set[str]:
    return {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("path", ROUTES)
def test_options_lists_every_method(module_client: httpx.Client, path: str) -> None:
    reply = module_client.options(path, headers=TUS)
    assert reply.status_code in (200, 204), reply.text
    assert allow(reply) == ROUTES[path]


@pytest.mark.parametrize("path", ROUTES)
def test_a_wrong_method_gets_405_with_the_full_allow(
    module_client: httpx.Client, path: str
) -> None:
    for method in sorted(ALL - ROUTES[path]):
        reply = module_client.request(method, path, headers=TUS)
        assert reply.status_code == 405, f"{method} {path}: {reply.text}"
        assert allow(reply) == ROUTES[path], f"{method} {path}"
        if method != "HEAD":
            assert reply.json()["error"]["code"] == "method_not_allowed"
