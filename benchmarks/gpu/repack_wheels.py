"""Shrink wheels to what the GPU host imports, so they fit the 64 MiB that may travel there.

    python benchmarks/gpu/repack_wheels.py IN_DIR OUT_DIR [--cuda 130]

- unsloth: drops `studio/` (a web UI the trainer never imports; most of the wheel) and `unsloth_cli/`.
- bitsandbytes: keeps only the native library for the host's CUDA (`libbitsandbytes_cuda130.so` for
  CUDA 13.0) and the CPU one; drops the other CUDA and ROCm builds.
- every other wheel is copied unchanged.

A repacked wheel stays a valid wheel: removed files leave its RECORD too, so pip installs it without
complaint, and the METADATA (hence the version) is unchanged.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import shutil
import zipfile
from pathlib import Path
from typing import Callable


def drop_rules(cuda: str) -> dict[str, Callable[[str], bool]]:
    """{project: predicate on a path inside the wheel, true for files to leave out}."""
    keep_libs = {f"bitsandbytes/libbitsandbytes_cuda{cuda}.so", "bitsandbytes/libbitsandbytes_cpu.so"}
    native = re.compile(r"^bitsandbytes/libbitsandbytes_.*\.(so|dll|dylib)$")
    ui = re.compile(r"^(studio|unsloth_cli)/")
    return {
        "unsloth": lambda name: bool(ui.match(name)),
        "bitsandbytes": lambda name: bool(native.match(name)) and name not in keep_libs,
    }


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack(src: Path, dst: Path, drop: Callable[[str], bool]) -> tuple[int, int]:
    """Write `src` minus the files `drop` matches to `dst`; returns (files dropped, bytes dropped)."""
    n = size = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        record_name = next(i.filename for i in zin.infolist() if i.filename.endswith(".dist-info/RECORD"))
        lines = []
        for info in zin.infolist():
            if info.filename == record_name:
                continue
            if drop(info.filename):
                n += 1
                size += info.file_size
                continue
            data = zin.read(info)
            zout.writestr(info, data)
            if not info.is_dir():
                lines.append(record_line(info.filename, data))
        lines.append(f"{record_name},,")
        zout.writestr(record_name, "\n".join(lines) + "\n")
    return n, size


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--cuda", default="130", help="CUDA version of the GPU host's torch, e.g. 130 for 13.0")
    args = ap.parse_args()
    rules = drop_rules(args.cuda)
    out = Path(args.dst)
    out.mkdir(parents=True, exist_ok=True)
    print("| wheel | before MB | after MB | files dropped |")
    print("|---|---:|---:|---:|")
    for whl in sorted(Path(args.src).glob("*.whl")):
        project = whl.name.split("-")[0].lower().replace("_", "-")
        target = out / whl.name
        rule = rules.get(project)
        if rule is None:
            shutil.copy2(whl, target)
            dropped = 0
        else:
            dropped, _ = repack(whl, target, rule)
        print(f"| {whl.name} | {whl.stat().st_size / 1e6:.1f} | {target.stat().st_size / 1e6:.1f} | {dropped} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
