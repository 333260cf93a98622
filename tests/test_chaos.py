from __future__ import annotations

import pytest

from upslice.chaos import CHUNK_REQUEST, ChaosConfig


def test_spec_parses_with_defaults() -> None:
    config = ChaosConfig.parse("fail=0.1, cut=0.05,delay-max=1.5,seed=3")
    assert config == ChaosConfig(fail=0.1, delay=0.0, cut=0.05, delay_max=1.5, seed=3)
    assert "fail=10%" in config.describe()


@pytest.mark.parametrize("spec", ["fail=2", "explode=0.1", "fail", "cut=-0.1"])
def test_bad_specs_say_what_is_wrong(spec: str) -> None:
    with pytest.raises(ValueError, match="chaos"):
        ChaosConfig.parse(spec)


@pytest.mark.parametrize(
    ("request_line", "affected"),
    [
        ("PUT /api/task/abc/chunk/3", True),
        ("PUT /uploads/api/task/abc/chunk/0", True),
        ("PATCH /files/abc", True),
        ("POST /api/task", False),
        ("GET /api/task/abc/file", False),
        ("HEAD /files/abc", False),
    ],
)
def test_only_chunk_requests_are_affected(request_line: str, affected: bool) -> None:
    assert bool(CHUNK_REQUEST.match(request_line)) is affected
