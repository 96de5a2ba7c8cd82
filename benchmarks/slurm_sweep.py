"""Slurm backend speed on a real local Slurm (started by tests/clusters/daemons.py, or reused).

1. Submitting a sweep of 100 jobs through SlurmBackend.submit (run dir + spec.json + job.sbatch +
   `sbatch --parsable`), against 100 bare `sbatch --wrap` calls measured in the same run; target < 10 s.
2. One status refresh for 1,000 jobs: SlurmBackend.status counts its scheduler calls (target: 1),
   against the naive way (one `squeue -j ID` per job, measured on 100 jobs, scaled to 1,000).
3. The same refresh over SSH (loopback sshd), when one can be started.

Jobs are submitted held (`--hold`) so nothing runs, and cancelled at the end.
Usage: python benchmarks/slurm_sweep.py   (root; slurm-wlm + munge [+ openssh-server] installed)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.backends.slurm import SlurmBackend  # noqa: E402
from jobs.scheduler_shell import LocalShell, SSHShell  # noqa: E402
from jobs.spec import JobSpec  # noqa: E402
from tests.clusters import daemons  # noqa: E402


def spec(i: int, root: Path) -> JobSpec:
    return JobSpec(
        kind="eval",
        name=f"sweep-{i:04d}",
        template="eval",
        params={"model_path": "tiny", "dataset": "arc1/train", "temperature": 0.1 * (i % 10)},
        backend="slurm",
        profile="bench",
        run_dir=str(root / f"sweep-{i:04d}"),
        entry=["/bin/true"],
        resources={"cpus": 1, "memory": "100M"},
    )


VERSION = "slurm ?"


def bare_held_jobs(n: int, env: dict, ids: list[str]) -> None:
    """Submit n held no-op jobs by plain `sbatch` calls (the baseline, and queue filler), each id added
    to `ids` as it comes so that a failure part-way still leaves them to cancel."""
    for _ in range(n):
        r = subprocess.run(
            ["sbatch", "--parsable", "--hold", "-o", "/dev/null", "--wrap", "true"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(r.stdout.strip())


def main() -> None:
    cluster = daemons.ensure_slurm()
    env = cluster.env
    tmp = Path(tempfile.mkdtemp(prefix="arcctl-bench-"))
    global VERSION
    VERSION = subprocess.run(["sinfo", "-V"], env=env, capture_output=True, text=True).stdout.strip()
    ids: list[str] = []
    rows: list[tuple[str, str, str, str]] = []
    try:
        # baseline: bare sbatch calls, same machine, same moment
        t0 = time.perf_counter()
        bare_held_jobs(100, env, ids)
        bare = time.perf_counter() - t0

        backend = SlurmBackend({"slurm_conf": str(cluster.conf), "sbatch_args": ["--hold"]}, shell=LocalShell())
        t0 = time.perf_counter()
        sweep_ids = [backend.submit(spec(i, tmp)) for i in range(100)]
        sweep = time.perf_counter() - t0
        ids += sweep_ids
        rows.append(
            (
                "submit a sweep of 100 jobs",
                f"{sweep:.2f} s",
                f"bare sbatch x100: {bare:.2f} s",
                f"{sweep / bare:.1f}x bare; {10 / sweep:.0f}x under the 10 s target",
            )
        )

        # 1,000 jobs in the queue (800 more bare held jobs)
        bare_held_jobs(800, env, ids)
        assert len(ids) == 1000
        calls = backend.shell.calls
        t0 = time.perf_counter()
        st = backend.status(ids)
        one = time.perf_counter() - t0
        n_calls = backend.shell.calls - calls
        assert len(st) == 1000 and all(s.state.value == "held" for s in st.values()), {
            s.state.value for s in st.values()
        }
        t0 = time.perf_counter()
        for j in ids[:100]:
            subprocess.run(["squeue", "-h", "-j", j, "-O", "JobID,State"], env=env, capture_output=True, check=True)
        naive = (time.perf_counter() - t0) * 10
        rows.append(
            (
                "status refresh, 1,000 jobs",
                f"{one:.3f} s, {n_calls} squeue call(s)",
                f"1 squeue per job: ~{naive:.1f} s, 1000 calls (100 measured x10)",
                f"{naive / one:.0f}x faster; {1000 // max(n_calls, 1)}x fewer calls",
            )
        )

        try:
            sshd = daemons.ensure_sshd()
        except Exception as e:  # noqa: BLE001 - optional part
            rows.append(("status refresh over SSH", "skipped", str(e)[:60], "-"))
            sshd = None
        if sshd is not None:
            cfg = sshd.ssh_config(tmp / "ssh_config")
            os.environ["ARCCTL_SSH_CONFIG"] = str(cfg)
            remote = SlurmBackend({"slurm_conf": str(cluster.conf)}, host="testhost", shell=SSHShell("testhost"))
            remote.status(ids[:1])  # connect once (the pool keeps the connection)
            c0 = remote.shell.calls
            t0 = time.perf_counter()
            st = remote.status(ids)
            over = time.perf_counter() - t0
            rows.append(
                (
                    "status refresh over SSH, 1,000 jobs",
                    f"{over:.3f} s, {remote.shell.calls - c0} call(s)",
                    f"local: {one:.3f} s",
                    f"{over / one:.2f}x local",
                )
            )
            sshd.stop()
    finally:
        for k in range(0, len(ids), 500):
            subprocess.run(["scancel", *ids[k : k + 500]], env=env, capture_output=True)
        cluster.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {VERSION}")
    w = [max(len(r[i]) for r in rows + [("measure", "arcctl", "baseline (same run)", "ratio")]) for i in range(4)]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"  # noqa: E731
    print(line(("measure", "arcctl", "baseline (same run)", "ratio")))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
