"""Tiny supervisor of one local job:
`python -m jobs.backends.local_wrapper RUN_DIR GRACE_S STATE_DIR OPTIONS_JSON TOKEN -- CMD...`.

It detaches (fork + setsid, so the job never becomes a zombie of the launching process and
survives the terminal), claims the launch, writes `pid`, runs CMD in its own process group, and
writes CMD's exit code to `exit_code` (128+signal when killed).

The claim makes a launch happen once: TOKEN names one queued submission, and the first wrapper
to create RUN_DIR/`claim` (a hard link, atomic) for it is the only one that runs CMD. A launcher
killed after starting a wrapper but before recording it leaves the queue entry `queued`; the next
pump sees the claim and records it instead of starting again, and a second wrapper started while
the first one was still on its way loses the claim and exits (status LOST_CLAIM) without running
anything. A `cancelled` marker found after the claim stops the launch before CMD starts.

SIGTERM (SIGINT, SIGHUP) to the wrapper is forwarded as SIGTERM, SIGUSR1 as SIGUSR1, to CMD's
process group, or under a multi-process launcher to the training processes it started
(jobs.backends.process_tree); if CMD is still running GRACE_S seconds after a SIGTERM, it and every
process below it get SIGKILL, as do leftovers once CMD has ended. The wrapper is a child subreaper,
so processes in other sessions (a launcher's workers) stay in its tree even when their parent dies.
Standard library only: it starts fast and must not fail on import. When CMD ends it starts the next queued local jobs
(STATE_DIR/OPTIONS_JSON: the local backend's queue and options), so a queue drains by itself
even when no arcctl process is watching.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from jobs import processes
from jobs.backends.process_tree import become_subreaper, kill_all, signal_job

PID = "pid"
EXIT_CODE = "exit_code"
CLAIM = "claim"
CANCELLED = "cancelled"
LOST_CLAIM = 3  # exit status of the launching half when another wrapper holds the claim

# Test hook that widens the start window: at the named point the process creates
# $ARCCTL_TEST_PAUSE_DIR/<point>.reached and waits (up to 120 s) for <point>.release, so a test
# can kill the launcher exactly there. Points: before_start, after_start (local.pump),
# wrapper_before_claim, wrapper_after_claim (here).
PAUSE_ENV = "ARCCTL_TEST_PAUSE"
PAUSE_DIR_ENV = "ARCCTL_TEST_PAUSE_DIR"


def pause_point(point: str) -> None:
    d = os.environ.get(PAUSE_DIR_ENV)
    if not d or os.environ.get(PAUSE_ENV) != point:
        return
    with open(os.path.join(d, f"{point}.reached"), "a") as f:
        f.write(f"{os.getpid()}\n")
    release = os.path.join(d, f"{point}.release")
    end = time.monotonic() + 120
    while not os.path.exists(release) and time.monotonic() < end:
        time.sleep(0.05)


def read_claim(run_dir: str) -> dict | None:
    try:
        with open(os.path.join(run_dir, CLAIM)) as f:
            got = json.load(f)
        return got if isinstance(got, dict) else None
    except (OSError, ValueError):
        return None


def _claim(run_dir: str, token: str, pid: int) -> bool:
    """Create RUN_DIR/claim for TOKEN unless it exists; complete content or nothing (link)."""
    info = {
        "token": token,
        "pid": pid,
        "start": proc_start_time(pid) or "",
        "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "time": time.time(),
    }
    tmp = os.path.join(run_dir, f"{CLAIM}.tmp{pid}")
    _write_atomic(tmp, json.dumps(info) + "\n")
    try:
        os.link(tmp, os.path.join(run_dir, CLAIM))
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def proc_start_time(pid: int) -> str | None:
    """Kernel start time of a process (guards against pid reuse); None when gone or a zombie."""
    return processes.start_time(pid)


def main(argv: list[str]) -> int:
    if len(argv) < 7 or argv[5] != "--":
        print(
            "usage: python -m jobs.backends.local_wrapper RUN_DIR GRACE_S STATE_DIR OPTIONS_JSON TOKEN -- CMD...",
            file=sys.stderr,
        )
        return 2
    run_dir, grace, state_dir, options, token, cmd = argv[0], float(argv[1]), argv[2], argv[3], argv[4], argv[6:]
    r, w = os.pipe()
    if os.fork() > 0:  # the launcher waits for this parent; it exits once the pid file exists
        os.close(w)
        got = os.read(r, 1)
        os._exit({b"1": 0, b"2": LOST_CLAIM}.get(got, 1))
    os.close(r)
    os.setsid()
    become_subreaper()
    me = os.getpid()
    pause_point("wrapper_before_claim")
    if not _claim(run_dir, token, me):
        os.write(w, b"2")  # another wrapper runs this submission
        os._exit(0)
    pause_point("wrapper_after_claim")
    _write_atomic(os.path.join(run_dir, PID), f"{me} {proc_start_time(me) or ''}\n")
    os.write(w, b"1")
    os.close(w)

    child: list[subprocess.Popen] = []
    stopping = {"term": False}

    def on_term(signum, frame):
        stopping["term"] = True
        if child:
            signal_job(child[0].pid, signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, max(grace, 0.01))

    def on_usr1(signum, frame):  # a preemption warning: the job checkpoints and ends by itself
        if child:
            signal_job(child[0].pid, signal.SIGUSR1)

    def on_alarm(signum, frame):
        if child:
            kill_all(me, child[0].pid)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGALRM, on_alarm)

    # a cancel that came before the pid file existed could not signal us: it left this marker
    if os.path.exists(os.path.join(run_dir, CANCELLED)):
        stopping["term"] = True
    if stopping["term"]:
        rc = 128 + signal.SIGTERM
    else:
        try:
            child.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, process_group=0))
        except OSError as e:
            print(f"arcctl: cannot start {cmd[0]}: {e.strerror or e}", file=sys.stderr, flush=True)
            _write_atomic(os.path.join(run_dir, EXIT_CODE), "127\n")
            return 127
        if stopping["term"]:  # SIGTERM raced with the start
            on_term(signal.SIGTERM, None)
        _wait_reaping_orphans(child[0].pid)
        rc = child[0].wait()
        if rc < 0:
            rc = 128 - rc
        # leftovers (workers, servers), in CMD's group or below it, must not keep GPUs busy
        kill_all(me, child[0].pid)
    _write_atomic(os.path.join(run_dir, EXIT_CODE), f"{rc}\n")
    _start_next(state_dir, options)
    return 0


def _wait_reaping_orphans(main: int) -> None:
    """Block until `main` has ended (leaving its exit status for Popen.wait), reaping on the way
    the processes re-parented to this subreaper that end before it."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == main:
            return
        os.waitpid(info.si_pid, 0)


def _start_next(state_dir: str, options: str) -> None:
    try:
        import json

        from jobs.backends.local import LocalBackend

        LocalBackend(json.loads(options), state_dir).pump()
    except Exception as e:  # noqa: BLE001 - the job is over; the next `arcctl ls` will retry
        print(f"arcctl: could not start queued jobs: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
