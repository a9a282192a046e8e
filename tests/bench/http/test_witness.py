"""The witness: a webhook receiver process recording every event id it is POSTed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.experiments.faults.processes import start_witness
from bench.http.witness import read_ids

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_every_post_is_recorded_repeats_included(tmp_path: Path, anyio_backend: Any) -> None:
    """Three POSTs (one id twice) answer 200 and leave three lines, in order; a body without an
    id answers 400 and leaves none; the file outlives the process."""
    out = tmp_path / "ids"
    witness = await start_witness(out, "ok", 0.0, tmp_path / "witness.log")
    try:
        async with aiohttp.ClientSession() as session:
            codes = []
            for body in ('{"id": "a", "subject": "s"}', '{"id": "b"}', '{"id": "a"}', "{}"):
                async with session.post(f"{witness.url}/hook", data=body) as resp:
                    codes.append(resp.status)
    finally:
        code = await witness.stop(10.0)
    expected = ([200, 200, 200, 400], ["a", "b", "a"], 0)
    assert expected == (codes, read_ids(out), code)


async def test_a_hanging_witness_records_and_never_answers(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """In ``hang`` mode the id is on file while the client is still waiting for an answer."""
    out = tmp_path / "ids"
    witness = await start_witness(out, "hang", 0.0, tmp_path / "witness.log")
    try:
        timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with pytest.raises(asyncio.TimeoutError):
                async with session.post(f"{witness.url}/hook", data='{"id": "h"}'):
                    pass
    finally:
        await witness.stop(10.0)
    expected = ["h"]
    assert expected == read_ids(out)


def test_a_torn_last_line_is_left_out(tmp_path: Path) -> None:
    """A write cut short (the process killed mid-line) is not an id."""
    out = tmp_path / "ids"
    out.write_bytes(b"a\nb\nc")
    expected = ["a", "b"]
    assert expected == read_ids(out)
