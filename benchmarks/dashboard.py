"""Dashboard speed: prints a table (each number next to a baseline measured in the same run).

  python benchmarks/dashboard.py [--size-mb 1024] [--steps 100000] [--keep DIR] [--remote]

1. Open a run whose completions.jsonl is SIZE MB: time to the first completions page on screen
   and peak RSS, in a fresh process (the real app, headless) vs a naive full load of the file.
2. Redraw a chart of a STEPS-step metrics history (downsampled) vs plotting every point.
3. A metrics line appended to the run: time until the run screen shows it (target < 1 s).
4. Start-up: importing the dashboard + CLI in a fresh interpreter, and whether torch came along.

With --remote, instead: the same run opened over SFTP (a real sshd on loopback, started by
tests/clusters/daemons.py) next to the same run opened locally, as `arcctl open [host:]/path`
does, in fresh processes: the host is reached (paramiko imported, logged in, the path checked)
while the app is imported, then the run screen is pushed. Times to the run screen's first chart,
to the first completions page when `c` is pressed at once (both from the push and from the
process start), and to the whole history; and, for comparison, the remote times when nothing
logs in before the push (the run screen's own reader imports paramiko and logs in).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CODE = (
    "def transform(grid):\n"
    + "".join(f"    x{i} = [row[::-1] for row in grid]  # step {i}\n" for i in range(30))
    + "    return x0\n"
)


def make_run(root: Path, size_mb: int, steps: int) -> Path:
    run = root / "big-run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "spec.json").write_text(
        json.dumps(
            {
                "kind": "grpo",
                "name": "big-run",
                "template": "grpo",
                "run_dir": str(run),
                "params": {"model_path": "m", "dataset": "arc1/train", "max_completion_length": 1024},
            }
        )
    )
    target = size_mb * 1024 * 1024
    comp = run / "completions.jsonl"
    if not comp.exists() or comp.stat().st_size < target:
        with open(comp, "w") as f:
            written, i = 0, 0
            while written < target:
                block = []
                for _ in range(1000):
                    rec = {
                        "id": f"{i // 16}:{i % 16}",
                        "step": i // 16,
                        "task_id": f"task{i % 400:04d}",
                        "reward": (i % 7) / 7,
                        "n_tokens": 300 + i % 700,
                        "truncated": i % 13 == 0,
                        "error": None if i % 5 else "syntax_error",
                        "diag": {"ngram4_repeat_max": i % 9, "unique_token_ratio": 0.5},
                        "completion": CODE,
                    }
                    block.append(json.dumps(rec))
                    i += 1
                data = "\n".join(block) + "\n"
                f.write(data)
                written += len(data)
    with open(run / "metrics.jsonl", "w") as f:
        for s in range(1, steps + 1):
            f.write(
                json.dumps(
                    {
                        "step": s,
                        "reward": 0.5 + 0.3 * ((s * 7919) % 1000) / 1000,
                        "kl": s * 1e-6,
                        "entropy": 1.0,
                        "completions/clipped_ratio": 0.1,
                    }
                )
                + "\n"
            )
    return run


# -- child processes (fresh interpreters, so RSS and imports are measured honestly) -------------

CHILD_APP = r"""
import asyncio, json, resource, sys, time
t0 = time.perf_counter()
from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.completions import CompletionsScreen
from jobs.runview import RunView
t_import = time.perf_counter() - t0
run = sys.argv[1]

async def main():
    app = ArcApp(source=JobSource(None))
    async with app.run_test(size=(160, 45), headless=True) as pilot:
        t1 = time.perf_counter()
        scr = CompletionsScreen(RunView(run))
        app.push_screen(scr)
        while not scr.items:
            await pilot.pause(0.005)
        await pilot.pause(0)  # let the page paint
        first = time.perf_counter() - t1
        print(json.dumps({"import_s": t_import, "first_page_s": first, "rows": len(scr.items),
                          "indexed_lines": len(scr.view.completions),
                          "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          "torch": "torch" in sys.modules}))
asyncio.run(main())
"""

CHILD_NAIVE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
rows = [json.loads(l) for l in open(sys.argv[1] + "/completions.jsonl")]
print(json.dumps({"first_page_s": time.perf_counter() - t0, "rows": len(rows),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_IMPORT = r"""
import json, sys, time
t0 = time.perf_counter()
import arcctl.cli.main, arcctl.tui.app, arcctl.tui.screens.run, arcctl.tui.screens.jobs
print(json.dumps({"s": time.perf_counter() - t0, "heavy": sorted(m for m in ("torch", "transformers", "trl") if m in sys.modules)}))
"""

CHILD_TORCH = r"""
import json, time
t0 = time.perf_counter()
try:
    import torch
    print(json.dumps({"s": time.perf_counter() - t0}))
except ImportError:
    print(json.dumps({"s": None}))
"""


CHILD_OPEN = r"""
import time
T_PROC = time.perf_counter()
import asyncio, json, sys
arg, what, login = sys.argv[1], sys.argv[2], sys.argv[3]
if login == "open":  # as `arcctl open [host:]path`: the host is reached while the app is imported
    try:
        from arcctl.cli.open_cmd import resolve_in_background
        resolved = resolve_in_background(arg)
    except ImportError:  # older trees (a "before" run): `arcctl open` resolved, then imported the app
        from arcctl.cli.resolve import resolve_run
        resolved = (lambda t: lambda: t)(resolve_run(arg))
from arcctl.tui.app import ArcApp
from arcctl.tui.data import JobSource
from arcctl.tui.screens.completions import CompletionsScreen
from arcctl.tui.screens.run import RunScreen
from arcctl.tui.widgets.charts import MetricChart
if login == "open":
    target = resolved()
    run, host = target.run_dir, target.host
else:  # "at-push": no login before the run screen is pushed (it logs in itself)
    host, _, run = arg.rpartition(":")
    host = host or None

async def main():
    src = JobSource(None)
    app = ArcApp(source=src)
    async with app.run_test(size=(160, 45), headless=True) as pilot:
        t0 = time.perf_counter()
        scr = RunScreen(src.view(run, host))  # what `arcctl open [host:]path` pushes
        app.push_screen(scr)
        out = {}
        if what == "page":
            await pilot.pause(0)
            scr.action_completions()  # `c` pressed at once
            while not (isinstance(app.screen, CompletionsScreen) and app.screen.items):
                await pilot.pause(0.005)
            await pilot.pause(0)  # let the page paint
            out["first_page_s"] = time.perf_counter() - t0
            out["first_page_from_start_s"] = time.perf_counter() - T_PROC
        else:
            charts = lambda: list(scr.query(MetricChart)) if scr.is_mounted else []
            while not (charts() and all(c.points for c in charts())):
                await pilot.pause(0.005)
            await pilot.pause(0)
            out["first_chart_s"] = time.perf_counter() - t0
            out["first_chart_from_start_s"] = time.perf_counter() - T_PROC
            out["rows_at_first_chart"] = len(scr.view.metrics)
            while scr.view.metrics.last_step() is None or scr.view.metrics.steps[0] > 1:
                await pilot.pause(0.01)
            out["history_s"] = time.perf_counter() - t0
            out["rows"] = len(scr.view.metrics)
        print(json.dumps(out))
asyncio.run(main())
"""

CHILD_SFTP_READ = r"""
import json, sys, time
from jobs.ssh_transport import SSHPool
path = sys.argv[1]
pool = SSHPool()
s = pool.client("testhost").open_sftp()
t = time.perf_counter()
with s.open(path, "rb") as f:
    n = len(f.read())
out = {"s": time.perf_counter() - t, "bytes": n}
try:
    from jobs.ssh_transport import SFTPFS
    fs = SFTPFS("testhost", pool)
    fs.size(path)  # its session opened
    t = time.perf_counter()
    with fs.open_binary(path) as f:
        assert len(f.read()) == n
    out["reader_s"] = time.perf_counter() - t
except (ImportError, AttributeError, TypeError):
    pass
print(json.dumps(out))
"""


def child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_chart(run: Path) -> dict:
    from jobs.runview import RunView
    from arcctl.tui.app import ArcApp
    from arcctl.tui.data import JobSource
    from arcctl.tui.widgets.charts import MetricChart

    view = RunView(str(run))
    view.refresh(completion_bytes=0)
    res: dict = {"steps": len(view.metrics)}

    async def main():
        app = ArcApp(source=JobSource(None))
        async with app.run_test(size=(160, 45), headless=True) as pilot:
            cell = MetricChart("kl")
            cell.styles.width, cell.styles.height = 60, 18  # one chart of the run screen's 2x2 grid
            chart = MetricChart("reward")  # the rest of the screen: the widest chart we draw
            await app.screen.mount(cell)
            await app.screen.mount(chart)
            await pilot.pause()
            for c in (cell, chart):
                c.draw(view.metrics)  # warm caches once
                c.render()
            n = 20
            for c, key in ((cell, "cell_ms"), (chart, "downsampled_ms")):
                t = time.perf_counter()
                for _ in range(n):
                    c.draw(view.metrics, smoothing=0.6)
                    c.render()  # plotext builds the picture here
                res[key] = (time.perf_counter() - t) / n * 1000
            res["points"], res["cell_points"] = chart.points, cell.points
            res["size"], res["cell_size"] = tuple(chart.size), tuple(cell.size)
            xs = list(view.metrics.steps)
            ys = list(view.metrics.columns["reward"])
            t = time.perf_counter()
            chart.plt.clear_data()
            chart.plt.plot(xs, ys)
            chart.render()
            res["all_points_ms"] = (time.perf_counter() - t) * 1000

    asyncio.run(main())
    return res


def bench_append(run: Path) -> dict:
    from arcctl.tui.app import ArcApp
    from arcctl.tui.data import JobSource
    from arcctl.tui.screens.run import RunScreen
    from jobs.runview import RunView
    from textual.widgets import Static

    res: dict = {}

    async def main():
        app = ArcApp(source=JobSource(None))
        async with app.run_test(size=(160, 45), headless=True) as pilot:
            scr = RunScreen(RunView(str(run)))
            app.push_screen(scr)
            status = lambda: str(scr.query_one("#run-status", Static).render()) if scr.is_mounted else ""
            while f"rows {scr.view.metrics.last_step()}" not in status() or scr.view.metrics.last_step() is None:
                await pilot.pause(0.01)
            lags = []
            last = scr.view.metrics.last_step()
            for k in range(1, 6):
                step = last + k
                with open(run / "metrics.jsonl", "a") as f:
                    f.write(json.dumps({"step": step, "reward": 0.7}) + "\n")
                t = time.perf_counter()
                while f"step {step} " not in status():
                    await pilot.pause(0.005)
                lags.append(time.perf_counter() - t)
                await pilot.pause(0.1)
            res["lag_max_s"] = max(lags)
            res["lag_mean_s"] = sum(lags) / len(lags)
        # per-refresh cost once caught up: incremental read of one new line vs a reader that
        # re-reads and parses the whole metrics file on every refresh
        view = RunView(str(run))
        view.refresh(completion_bytes=0)
        while view.health_pending:  # let the collapse monitor catch up with the history first
            view.refresh(completion_bytes=0)
        with open(run / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": 10**9, "reward": 0.7}) + "\n")
        t = time.perf_counter()
        view.refresh(completion_bytes=0)
        res["incremental_s"] = time.perf_counter() - t
        t = time.perf_counter()
        [json.loads(x) for x in open(run / "metrics.jsonl")]
        res["reread_s"] = time.perf_counter() - t

    asyncio.run(main())
    return res


def bench_remote(run: Path, root: Path) -> None:
    """Local vs loopback-SFTP open of the same run; prints its own table."""
    from tests.clusters import daemons

    server = daemons.ensure_sshd("/tmp/arcctl-bench-sshd")
    try:
        os.environ["ARCCTL_SSH_CONFIG"] = str(server.ssh_config(root / "ssh_config"))
        res = {}
        for where, arg in (("local", str(run)), ("remote", f"testhost:{run}")):
            res[where] = {**child(CHILD_OPEN, arg, "chart", "open"), **child(CHILD_OPEN, arg, "page", "open")}
        cold = {
            **child(CHILD_OPEN, f"testhost:{run}", "chart", "at-push"),
            **child(CHILD_OPEN, f"testhost:{run}", "page", "at-push"),
        }
        naive = child(CHILD_SFTP_READ, str(run / "metrics.jsonl"))
    finally:
        server.stop()
    loc, rem = res["local"], res["remote"]

    def row(label: str, key: str, r: dict, target: str = "-") -> tuple:
        ok = target == "-" or r[key] <= 2 * loc[key] and ("1 s" not in target or r[key] <= 1.0)
        rows_note = f" ({r['rows_at_first_chart']} rows)" if key == "first_chart_s" else ""
        return (label, f"{loc[key]:.3f} s", f"{r[key]:.3f} s{rows_note}", f"{r[key] / loc[key]:.1f}x", target, ok)

    rows = [
        row("first chart (run screen)", "first_chart_s", rem, "<= 1 s, <= 2x local"),
        row("first completions page (`c` at once)", "first_page_s", rem, "<= 1 s, <= 2x local"),
        row("  same, first chart, from process start", "first_chart_from_start_s", rem, "<= 2x local"),
        row("  same, first page, from process start", "first_page_from_start_s", rem, "<= 2x local"),
        row("  first chart, login only at the push", "first_chart_s", cold),
        row("  first page, login only at the push", "first_page_s", cold),
        (
            f"whole history ({rem['rows']} rows) on the chart",
            f"{loc['history_s']:.3f} s",
            f"{rem['history_s']:.3f} s",
            f"{rem['history_s'] / loc['history_s']:.1f}x",
            "-",
            True,
        ),
        (
            f"metrics.jsonl ({naive['bytes'] / 2**20:.0f} MB) read whole: run-dir reader (baseline: paramiko read())",
            "-",
            (f"{naive['reader_s']:.3f} s ({naive['s']:.2f} s)" if "reader_s" in naive else f"- ({naive['s']:.2f} s)"),
            f"{naive['s'] / naive['reader_s']:.0f}x faster" if "reader_s" in naive else "-",
            "-",
            True,
        ),
    ]
    print_table(("measure", "local", "over SFTP (loopback)", "ratio", "target", "ok"), rows)


def print_table(head: tuple, rows: list[tuple]) -> None:
    """A markdown table; each row's last value (met the target or not) printed as yes / NO."""
    rows = [r[:-1] + ("yes" if r[-1] else "NO",) for r in rows]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--keep", help="reuse/keep the generated run under this dir")
    ap.add_argument("--remote", action="store_true", help="open the run over SFTP (loopback sshd) vs locally")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="arcctl-bench-"))
    t = time.perf_counter()
    run = make_run(root, args.size_mb, args.steps)
    size = (run / "completions.jsonl").stat().st_size
    print(
        f"run dir {run}: completions.jsonl {size / 2**20:.0f} MB, metrics {args.steps} steps (made in {time.perf_counter() - t:.1f}s)"
    )

    if args.remote:
        bench_remote(run, root)
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
        return
    app = child(CHILD_APP, str(run))
    naive = child(CHILD_NAIVE, str(run))
    chart = bench_chart(run)
    append = bench_append(run)
    imp = child(CHILD_IMPORT)
    torch = child(CHILD_TORCH)

    rows = [
        (
            "open 1 GB run: first completions page",
            f"{app['first_page_s']:.3f} s",
            f"{naive['first_page_s']:.2f} s (json.loads every line)",
            f"{naive['first_page_s'] / app['first_page_s']:.0f}x",
            "< 0.5 s",
            app["first_page_s"] < 0.5,
        ),
        (
            "  peak RSS of that process",
            f"{app['rss_mb']:.0f} MB",
            f"{naive['rss_mb']:.0f} MB",
            f"{naive['rss_mb'] / app['rss_mb']:.1f}x",
            "< 200 MB",
            app["rss_mb"] < 200,
        ),
        (
            f"chart redraw, {chart['steps']} steps, run-screen chart {chart['cell_size'][0]}x{chart['cell_size'][1]}",
            f"{chart['cell_ms']:.1f} ms ({chart['cell_points']} pts)",
            "-",
            "-",
            "< 50 ms",
            chart["cell_ms"] < 50,
        ),
        (
            f"  same, one chart {chart['size'][0]}x{chart['size'][1]}",
            f"{chart['downsampled_ms']:.1f} ms ({chart['points']} pts)",
            f"{chart['all_points_ms']:.0f} ms (all points)",
            f"{chart['all_points_ms'] / chart['downsampled_ms']:.0f}x",
            "< 50 ms",
            chart["downsampled_ms"] < 50,
        ),
        (
            "appended metrics line on screen",
            f"{append['lag_max_s']:.3f} s max ({append['lag_mean_s']:.3f} mean)",
            "-",
            "-",
            "< 1 s",
            append["lag_max_s"] < 1.0,
        ),
        (
            "  refresh cost, one new line",
            f"{append['incremental_s'] * 1000:.1f} ms (byte offset)",
            f"{append['reread_s'] * 1000:.0f} ms (re-read whole file)",
            f"{append['reread_s'] / append['incremental_s']:.0f}x",
            "-",
            True,
        ),
        (
            "start-up: import dashboard + CLI",
            f"{imp['s']:.2f} s, heavy: {imp['heavy'] or 'none'}",
            "import torch: " + (f"{torch['s']:.2f} s" if torch["s"] is not None else "n/a"),
            f"{torch['s'] / imp['s']:.1f}x" if torch["s"] else "-",
            "no torch",
            not imp["heavy"],
        ),
    ]
    print(
        f"\n(import of the app in the 1 GB child: {app['import_s']:.2f} s; lines indexed at first paint: {app['indexed_lines']}; torch imported: {app['torch']})\n"
    )
    print_table(("measure", "arcctl", "baseline", "ratio", "target", "ok"), rows)
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
