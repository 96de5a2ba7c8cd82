"""`arcctl ls` on a 10,000-job registry (target: < 0.3 s), against baselines measured in the
same run.

    python benchmarks/registry_ls.py [--jobs 10000] [--repeat 7] [--write-results]

Rows:
  in-process ls       Registry.list() + the CLI's table formatting (no interpreter start)
  arcctl ls           the real binary as a subprocess (interpreter start + imports + query + print)
  arcctl ls --json    same, JSON output
  arcctl --help       interpreter start + CLI imports, no registry: the floor of any command
  python -c pass      interpreter start alone
  baseline: json file a naive registry: one JSON file with every job and its full spec, loaded
                      and formatted
  baseline: full rows SELECT * with every spec parsed into a JobSpec (what `ls` avoids)
--write-results replaces the "## Registry" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(home: Path, n: int) -> None:
    """n jobs (a few still 'running' locally so the watcher has work), inserted in bulk."""
    os.environ["ARCCTL_HOME"] = str(home)
    from jobs.registry import Registry
    from jobs.submit import build_specs

    spec = build_specs("grpo", [], "local")[0]
    reg = Registry()
    now = time.time()
    rows = []
    states = ["completed", "failed", "cancelled"]
    for i in range(n):
        name = f"{spec.name}_{i}"
        run_dir = f"{home}/runs/{name}"
        s = spec.model_copy(update={"name": name, "run_dir": run_dir})
        state = "running" if i >= n - 5 else states[i % 3]
        rows.append(
            (
                f"{i:08x}",
                name,
                s.kind,
                s.template,
                s.profile,
                s.backend,
                run_dir,
                run_dir,
                state,
                None if state == "running" else (0 if state == "completed" else 1),
                s.to_json(),
                now - (n - i) * 60,
                now,
            )
        )
    db = reg._db
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO jobs (id,name,kind,template,profile,backend,backend_job_id,run_dir,state,exit_code,"
        "spec_json,created,updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    db.execute("COMMIT")
    reg.close()
    # the naive baseline: the same jobs as one JSON document
    with open(home / "jobs.json", "w") as f:
        json.dump(
            [
                {
                    "id": r[0],
                    "name": r[1],
                    "kind": r[2],
                    "profile": r[4],
                    "state": r[8],
                    "exit_code": r[9],
                    "created": r[11],
                    "spec": json.loads(r[10]),
                }
                for r in rows
            ],
            f,
        )


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median, min) seconds; min is the least disturbed run on a shared machine."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--write-results", action="store_true")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="arcctl-bench-"))
    home = tmp / "home"
    os.environ["ARCCTL_CONFIG_DIR"] = str(tmp / "config")
    t0 = time.perf_counter()
    build(home, a.jobs)
    build_s = time.perf_counter() - t0
    env = dict(os.environ, ARCCTL_HOME=str(home))
    arcctl = str(Path(sys.executable).parent / "arcctl")

    from arcctl.cli.jobs_cmds import TABLE_COLUMNS, _print_table
    from jobs.registry import Registry
    from jobs.spec import JobSpec

    def in_process():
        reg = Registry()
        with redirect_stdout(io.StringIO()):
            _print_table(reg.rows(TABLE_COLUMNS))
        reg.close()

    def sub(*args):
        return lambda: subprocess.run([arcctl, *args], env=env, stdout=subprocess.DEVNULL, check=True)

    def json_baseline():
        with open(home / "jobs.json") as f:
            jobs = json.load(f)
        buf = io.StringIO()
        for j in sorted(jobs, key=lambda j: -j["created"]):
            buf.write(f"{j['id']}  {j['state']}  {j['exit_code']}  {j['kind']}  {j['profile']}  {j['spec']['name']}\n")

    def full_rows():
        reg = Registry()
        for j in reg.list(with_spec=True):
            JobSpec.from_json(j.spec_json)
        reg.close()

    subprocess.run([arcctl, "ls"], env=env, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    rows = [
        ("in-process ls", timed(in_process, a.repeat)),
        ("arcctl ls", timed(sub("ls"), a.repeat)),
        ("arcctl ls --json", timed(sub("ls", "--json"), a.repeat)),
        ("arcctl --help", timed(sub("--help"), a.repeat)),
        ("python -c pass", timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), a.repeat)),
        ("baseline: json file", timed(json_baseline, a.repeat)),
        ("baseline: full rows", timed(full_rows, max(1, a.repeat // 3))),
    ]
    base = dict(rows)["baseline: json file"][0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"`python benchmarks/registry_ls.py --jobs {a.jobs}` on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load:.1f} at the end); "
        f"registry built in {build_s:.1f} s; {a.repeat} runs each. Target: `arcctl ls` < 0.3 s.",
        "",
        "| case | median s | min s | median vs json-file baseline |",
        "|---|---:|---:|---:|",
    ] + [f"| {name} | {med:.3f} | {lo:.3f} | {med / base:.2f}x |" for name, (med, lo) in rows]
    ls_med, ls_min = dict(rows)["arcctl ls"]
    floor = dict(rows)["arcctl --help"][0]
    lines += [
        "",
        f"`arcctl ls` with {a.jobs} jobs: median {ls_med:.3f} s (min {ls_min:.3f} s; "
        f"{ls_med - floor:.3f} s above the CLI's own start-up) -> "
        f"{'PASS' if ls_med < 0.3 else 'FAIL'} (< 0.3 s)",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write_results:
        write_section(ROOT / "benchmarks" / "RESULTS.md", "## Registry", text)


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) only our section; other sections are left as they are."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    out, skip = [], False
    for line in old.splitlines():
        if line.strip() == heading:
            skip = True
            continue
        if skip and line.startswith("## "):
            skip = False
        if not skip:
            out.append(line)
    new = "\n".join(out).rstrip() + f"\n\n{heading}\n\n{body}\n"
    path.write_text(new)


if __name__ == "__main__":
    main()
