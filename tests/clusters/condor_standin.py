"""A STAND-IN for condor_submit / condor_q / condor_history / condor_rm, because no HTCondor pool
(schedd, startd) can run in CI. It keeps the queue in a JSON file, prints what the real tools print
(the "submitted to cluster N." line, `-json` ads), validates submit files with the real
htcondor2.Submit parser, and writes classic-format events to the job's real event log — so the
backend's SSH command path, output parsing and event-log reading are exercised for real; only the
scheduling itself is simulated. Tests move jobs between states with `set_job`.

Installed as small wrapper scripts by `install(bin_dir, state_dir)`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

TOOLS = ("condor_submit", "condor_q", "condor_history", "condor_rm", "condor_version")


def install(bin_dir: Path, state_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        p = bin_dir / tool
        p.write_text(
            f"#!/bin/sh\nCONDOR_STANDIN_STATE={state_dir} exec {sys.executable} {Path(__file__).resolve()} "
            f'{tool} "$@"\n'
        )
        p.chmod(0o755)


def _load(state: Path) -> dict:
    f = state / "queue.json"
    return json.loads(f.read_text()) if f.exists() else {"next": 1000, "jobs": {}}


def _save(state: Path, q: dict) -> None:
    tmp = state / "queue.json.tmp"
    tmp.write_text(json.dumps(q))
    tmp.replace(state / "queue.json")


def _event(log: str, code: int, job: str, text: str, body: str = "") -> None:
    cluster, proc = job.split(".")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(log, "a") as f:
        f.write(f"{code:03d} ({int(cluster):03d}.{int(proc):03d}.000) {stamp} {text}\n{body}...\n")


def calls(state: Path) -> list[list[str]]:
    f = state / "calls.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else []


def set_job(state: Path, job: str, event: tuple[int, str, str] | None = None, **attrs) -> None:
    """Change a job's ad (e.g. JobStatus=5, HoldReason=...) and append an event to its log."""
    q = _load(state)
    q["jobs"][job].update(attrs)
    _save(state, q)
    if event:
        _event(q["jobs"][job]["UserLog"], event[0], job, event[1], event[2])


def _mb(text: str) -> int:
    units = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    text = text.strip().upper().rstrip("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def main(tool: str, args: list[str]) -> int:
    state = Path(os.environ["CONDOR_STANDIN_STATE"])
    with open(state / "calls.jsonl", "a") as f:
        f.write(json.dumps([tool, *args]) + "\n")
    q = _load(state)
    if tool == "condor_version":
        print("$CondorVersion: 25.14.1 2026-01-01 BuildID: standin $\n$CondorPlatform: x86_64_Debian12 $")
        return 0
    if tool == "condor_submit":
        import classad2
        import htcondor2

        sub = htcondor2.Submit(Path(args[-1]).read_text())
        if "-dry-run" in args:  # what the real tool does: parse, print the ad, queue nothing
            print(f"Dry-Run job(s).\n1 job(s) dry-run to cluster {q['next']}.")
            return 0
        cluster = q["next"]
        q["next"] += 1
        job = f"{cluster}.0"
        q["jobs"][job] = {
            "ClusterId": cluster,
            "ProcId": 0,
            "JobStatus": 1,
            "NumJobStarts": 0,
            "UserLog": sub["log"],
            "RequestMemory": _mb(sub.get("request_memory", "128M")),
            "Cmd": sub["executable"],
            "QDate": int(time.time()),
            # read as the schedd reads it: a ClassAd expression (JSON's escapes are not ClassAd's)
            "ArcctlRunDir": classad2.ExprTree(sub.get("MY.ArcctlRunDir", '""')).eval(),
        }
        _save(state, q)
        _event(sub["log"], 0, job, "Job submitted from host: <127.0.0.1:9618?addrs=127.0.0.1-9618&alias=standin>")
        print("Submitting job(s).\n1 job(s) submitted to cluster %d." % cluster)
        return 0
    ids = [a for a in args if a[:1].isdigit()]
    constraint = None
    if "-constraint" in args:  # evaluated against each ad by the real ClassAd library, as condor_q does
        import classad2

        constraint = classad2.ExprTree(args[args.index("-constraint") + 1])
    want = {i if "." in i else f"{i}.0" for i in ids}
    if tool in ("condor_q", "condor_history"):
        live = tool == "condor_q"
        ads = [
            ad
            for j, ad in q["jobs"].items()
            if (not want or j in want)
            and ((ad["JobStatus"] in (1, 2, 5, 7)) == live)
            and (constraint is None or constraint.eval(classad2.ClassAd(ad)) is True)
        ]
        if ads:
            print(json.dumps(ads, indent=2))
        return 0
    if tool == "condor_rm":
        for j in want:
            if j not in q["jobs"]:
                print(f"Job {j} not found", file=sys.stderr)
                return 1
            q["jobs"][j]["JobStatus"] = 3
            _event(q["jobs"][j]["UserLog"], 9, j, "Job was aborted.", "\tvia condor_rm (by user root)\n")
        _save(state, q)
        print("All jobs in cluster %s have been marked for removal" % ",".join(sorted(want)))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
