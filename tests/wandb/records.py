"""Reads the records of a `.wandb` file (what `wandb sync` uploads), for the tests: wandb ships
no Python reader for it. The file is a 7-byte header (":W&B", magic, version) and then 32 KiB
blocks of chunks, each with a 7-byte header (checksum, length, type: 1 whole record, 2 first
part, 3 middle, 4 last); a block's tail shorter than a chunk header is padding. Each record is a
wandb_internal_pb2.Record protobuf."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a .wandb file"
    out, parts, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if length == 0 and kind == 0:  # zero padding to the end of the block
            pos += left
            continue
        parts += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            out.append(record)
            parts = b""
    return out


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def run_record(recs: list[Any]) -> Any:
    [run] = [r.run for r in recs if r.WhichOneof("record_type") == "run"]
    return run


def config(recs: list[Any]) -> dict[str, Any]:
    """The run's config: the one in the run record, then every later update."""
    out = {}
    updates = [run_record(recs).config] + [r.config for r in recs if r.WhichOneof("record_type") == "config"]
    for update in updates:
        for item in update.update:
            out[_key(item)] = json.loads(item.value_json)
    return out


def history(recs: list[Any]) -> list[dict[str, Any]]:
    """Every logged row (wandb.log), as {key: value}."""
    return [
        {_key(i): json.loads(i.value_json) for i in r.history.item}
        for r in recs
        if r.WhichOneof("record_type") == "history"
    ]
