"""Overlay redraw speed: prints a table (each number next to a baseline measured in the same run).

  python benchmarks/compare_plot.py [--runs 8] [--steps 20000] [--repeat 20]

Writes RUNS run dirs of STEPS metric rows each (the last run a fork of the first from the middle,
so one line is a chain through its parent), loads them with RunView, then times a redraw of the
compare screen's overlay chart (jobs.overlay lines + markers, plotext building the picture) in the
real app, headless, at the chart's size in a 160x45 terminal. Baselines at the same size: plotext
(what the run screen's charts use) drawing the same downsampled lines, and plotext drawing every
row of every run. Target: < 100 ms per redraw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_runs(root: Path, runs: int, steps: int) -> list[Path]:
    out = []
    for r in range(runs):
        run = root / f"run{r}"
        run.mkdir(parents=True)
        spec = {
            "kind": "grpo",
            "name": run.name,
            "template": "grpo",
            "run_dir": str(run),
            "params": {"learning_rate": 1e-6 * (r + 1), "beta": 0.01},
        }
        first = 1
        if r == runs - 1 and runs > 1:  # a fork of run0 from the middle
            first = steps // 2 + 1
            spec["parent"] = {"run_dir": str(root / "run0"), "checkpoint": f"checkpoint-{steps // 2}"}
        (run / "spec.json").write_text(json.dumps(spec))
        with open(run / "metrics.jsonl", "w") as f:
            for s in range(first, steps + 1):
                f.write(
                    json.dumps(
                        {
                            "step": s,
                            "time": 1.7e9 + s,
                            "reward": 0.5 + 0.3 * math.sin(s / 500 + r),
                            "kl": 1e-4 * s,
                            "entropy": 1.0,
                        }
                    )
                    + "\n"
                )
        with open(run / "events.jsonl", "w") as f:
            for s in range(first + 499, steps + 1, 500):
                f.write(json.dumps({"event": "checkpoint_saved", "step": s, "time": 1.7e9 + s}) + "\n")
            f.write(
                json.dumps(
                    {
                        "event": "collapse_warning",
                        "step": steps - 100,
                        "rule": "kl_spike",
                        "severity": "warning",
                        "first_step": steps - 100,
                        "time": 1.7e9,
                    }
                )
                + "\n"
            )
        out.append(run)
    return out


def bench(runs: list[Path], repeat: int) -> dict:
    from arcctl.tui.app import ArcApp
    from arcctl.tui.data import JobSource
    from arcctl.tui.screens.compare import CompareScreen
    from arcctl.tui.widgets.overlay_chart import OverlayChart

    res: dict = {}

    async def main():
        src = JobSource(None)
        app = ArcApp(source=src, refresh_s=3600)  # no live refresh during the timing
        async with app.run_test(size=(160, 45), headless=True) as pilot:
            await pilot.pause(0.1)
            t = time.perf_counter()
            scr = CompareScreen([src.view(str(r)) for r in runs])
            app.push_screen(scr)
            while not (scr.query(OverlayChart) and scr.query_one(OverlayChart).lines):
                await pilot.pause(0.01)
            res["first_draw_s"] = time.perf_counter() - t
            chart = scr.query_one(OverlayChart)
            res["size"] = tuple(chart.size)
            res["rows"] = sum(len(v.metrics) for v in scr.views) + sum(len(v.metrics) for v in scr.parents.values())
            t = time.perf_counter()
            for _ in range(repeat):
                scr.redraw()
                chart.render()  # plotext builds the picture here
            res["redraw_ms"] = (time.perf_counter() - t) / repeat * 1000
            res["points"] = sum(len(ln.xs) for ln in chart.lines)
            res["markers"] = len(chart.marks.checkpoints) + len(chart.marks.alerts)
            # Baselines at the same size: plotext (the run screen's charts) drawing the same
            # downsampled lines, and plotext drawing every row of every run.
            from textual_plotext import PlotextPlot

            plot = PlotextPlot()
            plot.styles.width, plot.styles.height = chart.size.width, chart.size.height
            await scr.mount(plot)
            await pilot.pause(0.05)
            plt = plot.plt
            for key, data in (
                ("plotext_same_ms", [(ln.xs, ln.ys) for ln in chart.lines]),
                ("all_points_ms", [(list(v.metrics.steps), list(v.metrics.columns["reward"])) for v in scr.views]),
            ):
                t = time.perf_counter()
                plt.clear_data()
                plt.clear_figure()
                for xs, ys in data:
                    plt.plot(xs, ys, marker="hd")
                plot.render()
                res[key] = (time.perf_counter() - t) * 1000

    asyncio.run(main())
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = make_runs(Path(tmp), args.runs, args.steps)
        r = bench(runs, args.repeat)
    w, h = r["size"]
    rows = [
        ("measure", "arcctl", "baseline (same run)", "ratio", "target", "ok"),
        (
            f"overlay redraw, {args.runs} runs x {args.steps} steps, chart {w}x{h}",
            f"{r['redraw_ms']:.1f} ms ({r['points']} pts, {r['markers']} markers)",
            f"{r['plotext_same_ms']:.0f} ms (plotext, same points)",
            f"{r['plotext_same_ms'] / r['redraw_ms']:.0f}x",
            "< 100 ms",
            "yes" if r["redraw_ms"] < 100 else "NO",
        ),
        (
            "",
            "",
            f"{r['all_points_ms']:.0f} ms (plotext, every row)",
            f"{r['all_points_ms'] / r['redraw_ms']:.0f}x",
            "",
            "",
        ),
        (
            "  open the compare screen: first overlay drawn",
            f"{r['first_draw_s']:.2f} s ({r['rows']} rows read)",
            "-",
            "-",
            "-",
            "-",
        ),
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
    line = lambda row: "| " + " | ".join(str(v).ljust(wd) for v, wd in zip(row, widths)) + " |"  # noqa: E731
    print(line(rows[0]))
    print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    for row in rows[1:]:
        print(line(row))


if __name__ == "__main__":
    main()
