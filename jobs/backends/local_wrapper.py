"""Tiny supervisor of one local job:
`python -m jobs.backends.local_wrapper RUN_DIR GRACE_S STATE_DIR OPTIONS_JSON -- CMD...`.

It detaches (fork + setsid, so the job never becomes a zombie of the launching process and
survives the terminal), writes `pid`, runs CMD in its own process group, and writes CMD's exit
code to `exit_code` (128+signal when killed). SIGTERM to the wrapper is forwarded to CMD's group;
if the group is still there after GRACE_S seconds it gets SIGKILL. Standard library only: it
starts fast and must not fail on import. When CMD ends it starts the next queued local jobs
(STATE_DIR/OPTIONS_JSON: the local backend's queue and options), so a queue drains by itself
even when no arcctl process is watching.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

PID = "pid"
EXIT_CODE = "exit_code"


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def proc_start_time(pid: int) -> str | None:
    """Kernel start time of a process (guards against pid reuse); None when gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def main(argv: list[str]) -> int:
    if len(argv) < 6 or argv[4] != "--":
        print("usage: python -m jobs.backends.local_wrapper RUN_DIR GRACE_S STATE_DIR OPTIONS_JSON -- CMD...",
              file=sys.stderr)
        return 2
    run_dir, grace, state_dir, options, cmd = argv[0], float(argv[1]), argv[2], argv[3], argv[5:]
    r, w = os.pipe()
    if os.fork() > 0:  # the launcher waits for this parent; it exits once the pid file exists
        os.close(w)
        ok = os.read(r, 1)
        os._exit(0 if ok else 1)
    os.close(r)
    os.setsid()
    me = os.getpid()
    _write_atomic(os.path.join(run_dir, PID), f"{me} {proc_start_time(me) or ''}\n")
    os.write(w, b"1")
    os.close(w)

    child: list[subprocess.Popen] = []
    stopping = {"term": False}

    def on_term(signum, frame):
        stopping["term"] = True
        if child:
            try:
                os.killpg(child[0].pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        signal.setitimer(signal.ITIMER_REAL, max(grace, 0.01))

    def on_alarm(signum, frame):
        if child:
            try:
                os.killpg(child[0].pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_term)
    signal.signal(signal.SIGALRM, on_alarm)

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
        rc = child[0].wait()
        if rc < 0:
            rc = 128 - rc
        try:  # leftovers of the job's group (workers, servers) must not keep GPUs busy
            os.killpg(child[0].pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _write_atomic(os.path.join(run_dir, EXIT_CODE), f"{rc}\n")
    _start_next(state_dir, options)
    return 0


def _start_next(state_dir: str, options: str) -> None:
    try:
        import json

        from jobs.backends.local import LocalBackend

        LocalBackend(json.loads(options), state_dir).pump()
    except Exception as e:  # noqa: BLE001 - the job is over; the next `arcctl ls` will retry
        print(f"arcctl: could not start queued jobs: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
