from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upslice import ranges

sizes = st.integers(min_value=0, max_value=10**12)
chunk_sizes = st.integers(min_value=1, max_value=10**9)
spans = st.lists(
    st.tuples(st.integers(0, 500), st.integers(0, 500)).map(lambda p: (min(p), max(p))),
    max_size=30,
)


@given(sizes, chunk_sizes)
def test_chunks_tile_the_file_exactly(size: int, chunk_size: int) -> None:
    count = ranges.chunk_count(size, chunk_size)
    if count == 0:
        assert size == 0
        return
    first = ranges.chunk_bounds(0, size, chunk_size)
    last = ranges.chunk_bounds(count - 1, size, chunk_size)
    assert first[0] == 0 and last[1] == size
    assert 0 < last[1] - last[0] <= chunk_size
    if count > 1:
        assert first[1] - first[0] == chunk_size
        previous = ranges.chunk_bounds(count - 2, size, chunk_size)
        assert previous[1] == last[0]


@given(st.integers(1, 10**6), chunk_sizes, st.data())
def test_every_byte_belongs_to_exactly_one_chunk(
    size: int, chunk_size: int, data: st.DataObject
) -> None:
    offset = data.draw(st.integers(0, size - 1))
    index = offset // chunk_size
    start, end = ranges.chunk_bounds(index, size, chunk_size)
    assert start <= offset < end


@given(sizes, chunk_sizes)
def test_index_past_the_end_is_refused(size: int, chunk_size: int) -> None:
    with pytest.raises(IndexError):
        ranges.chunk_bounds(ranges.chunk_count(size, chunk_size), size, chunk_size)


@given(spans)
def test_merge_matches_a_byte_set(items: list[tuple[int, int]]) -> None:
    expected = {b for start, end in items for b in range(start, end)}
    merged = ranges.merge(items)
    assert {b for start, end in merged for b in range(start, end)} == expected
    assert ranges.covered(items) == len(expected)
    for (_, end), (start, _) in itertools.pairwise(merged):
        assert end < start  # disjoint and not even adjacent


@given(spans, st.integers(0, 600))
def test_gaps_are_the_complement(items: list[tuple[int, int]], size: int) -> None:
    have = {b for start, end in items for b in range(start, end)}
    missing = {b for start, end in ranges.gaps(items, size) for b in range(start, end)}
    assert missing == set(range(size)) - have


@given(spans)
def test_contiguous_prefix_is_the_run_from_zero(items: list[tuple[int, int]]) -> None:
    have = {b for start, end in items for b in range(start, end)}
    prefix = ranges.contiguous_prefix(items)
    assert all(b in have for b in range(prefix))
    assert prefix not in have
