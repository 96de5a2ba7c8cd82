"""A refine file is read with a cap on its decompressed size (a gzip bomb was decompressed whole into
memory, at render and in the trainer) and only when it is a regular file (a FIFO waited forever)."""

from __future__ import annotations

import gzip
import os
import tracemalloc

import pytest

from jobs import refine
from jobs.refine import RefineDataError

pytestmark = pytest.mark.timeout(60)


def test_a_gzip_bomb_is_refused_at_the_cap_not_decompressed_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(refine, "MAX_FILE_BYTES", 4 << 20)  # the real cap is 1 GiB: the same code, sooner
    bomb = tmp_path / "bomb.json.gz"
    with gzip.open(bomb, "wb") as f:
        for _ in range(64):
            f.write(b" " * (1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(RefineDataError) as err:
            refine.load(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value) == f"refine_dataset {bomb}: more than 4 MiB (decompressed)"
    assert peak < 24 << 20, peak  # was the whole 64 MiB and more


def test_a_fifo_is_named_not_waited_on(tmp_path):
    fifo = tmp_path / "refine.json"
    os.mkfifo(fifo)
    with pytest.raises(RefineDataError) as err:
        refine.load(fifo)
    assert str(err.value) == f"refine_dataset {fifo}: cannot read (not a regular file)"


def test_a_plain_file_under_the_cap_still_loads_its_format_check(tmp_path):
    plain = tmp_path / "r.json"
    plain.write_text('{"format": "other"}')
    with pytest.raises(RefineDataError, match="format 'other' is not 'arcctl-refine/1'"):
        refine.load(plain)
