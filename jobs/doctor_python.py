"""The profile's Python as `arcctl doctor` sees it: one shell script run where jobs run (the setup
lines, then the interpreter with PROBE) and what its answer means.

An interpreter that is missing, not executable, not a Python (a wrapper printing junk) or older
than the trainer's requires-python is one ✗ naming the host, the interpreter and the profile's
`python = ...` option; a junk answer was a traceback (JSON that was not the probe's object) and an
old Python passed. PROBE compiles under any Python (no f-strings) and says its version before it
imports anything newer than Python 2, so an old interpreter answers instead of failing to parse.
"""

from __future__ import annotations

import json
import re
import shlex

from jobs.scheduler_shell import CmdResult

# words a setup line's output does not hold by chance (no control characters: str.splitlines
# and strip treat \036 as a line end / blank)
_MISSING, _NOEXEC = "<arcctl-doctor:missing>", "<arcctl-doctor:not-executable>"
_SET_UP = "<arcctl-doctor:set-up>"  # the setup lines passed (they run under set -e)
FALLBACK_MIN = (3, 11)


def min_python() -> tuple[str, tuple[int, int]]:
    """The trainer's requires-python (pyproject, as installed) and its lowest major.minor."""
    import importlib.metadata as md

    try:
        spec = md.metadata("arcctl").get("Requires-Python") or ""
    except md.PackageNotFoundError:
        spec = ""
    m = re.search(r">=\s*(\d+)\.(\d+)", spec)
    return (spec.strip(), (int(m[1]), int(m[2]))) if m else (f">={FALLBACK_MIN[0]}.{FALLBACK_MIN[1]}", FALLBACK_MIN)


def probe(minimum: tuple[int, int]) -> str:
    """Versions from the installed distributions (importing torch takes seconds and is not needed
    to know what is installed); the trainer package itself is imported; the GPUs that environment
    sees, through NVML (nvidia-ml-py, a dependency of arcctl)."""
    return (
        "import json, sys\n"
        "out = {'python': sys.executable, 'version': sys.version.split()[0]}\n"
        f"if tuple(sys.version_info[:2]) < {tuple(minimum)!r}:\n"
        "    out['too_old'] = True; print(json.dumps(out)); sys.exit(0)\n"
        "import importlib.util, importlib.metadata as md\n"
        "try:\n    import trainer; out['trainer'] = trainer.__file__\n"
        "except Exception as e:\n    out['error'] = '%s: %s' % (type(e).__name__, e)\n"
        "for m in ('torch', 'transformers', 'trl', 'peft'):\n"
        "    try:\n        out[m] = md.version(m) if importlib.util.find_spec(m) else None\n"
        "    except Exception:\n        out[m] = None\n"
        "try:\n    import pynvml; pynvml.nvmlInit()\n"
        "    txt = lambda v: v.decode() if isinstance(v, bytes) else str(v)\n"
        "    hs = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]\n"
        "    out['gpus'] = [[txt(pynvml.nvmlDeviceGetName(h)), pynvml.nvmlDeviceGetMemoryInfo(h).total / 2**20] for h in hs]\n"
        "    out['driver'] = txt(pynvml.nvmlSystemGetDriverVersion())\n"
        "except Exception as e:\n    out['nvml'] = '%s: %s' % (type(e).__name__, e)\n"
        "print(json.dumps(out))\n"
    )


def script(setup_block: list[str], py: str, minimum: tuple[int, int]) -> str:
    """SETUP_BLOCK, then PY with the probe: a PY the shell cannot run is named as such (bash's own
    127/126 are also what a failing setup line may exit with)."""
    word = '"$HOME"/' + shlex.quote(py[2:]) if py.startswith("~/") else shlex.quote(py)
    return "\n".join(
        [
            *setup_block,
            f'printf "{_SET_UP}\\n"',
            f"p={word}",
            'if ! command -v "$p" >/dev/null 2>&1; then',
            f'  if [ -e "$p" ]; then printf "{_NOEXEC}\\n"; else printf "{_MISSING}\\n"; fi; exit 0',
            "fi",
            f'"$p" -c {shlex.quote(probe(minimum))}',
        ]
    )


def _shown(text: str, limit: int = 160) -> str:
    """TEXT on one line, bounded: an interpreter's junk goes into a ✗ line, not the terminal."""
    flat = " ".join(text.split())
    flat = "".join(c if c.isprintable() else "?" for c in flat)
    return flat if len(flat) <= limit else flat[:limit] + "…"


def judge(res: CmdResult, py: str, where: str, n_setup: int, minimum: tuple[str, tuple[int, int]]):
    """(info, problem): the probe's answer, or one line saying why PY on WHERE is not usable."""
    after = f" (after the profile's {n_setup} setup line(s))" if n_setup else ""
    last = (res.stdout.strip().splitlines() or [""])[-1]
    if last == _MISSING:
        what = "no such file" if "/" in py else "no such command on PATH"
        return None, f"`{py}` not found on {where}{after}: {what}"
    if last == _NOEXEC:
        return None, f"`{py}` on {where} is not an executable file"
    try:
        info = json.loads(last)
    except ValueError:
        info = None
    if isinstance(info, dict) and isinstance(info.get("python"), str) and isinstance(info.get("version"), str):
        if info.get("too_old"):
            return None, (
                f"{_shown(info['python'])} on {where} is Python {_shown(info['version'], 40)}; "
                f"the trainer needs Python {minimum[0]}"
            )
        # its words go into one ✓/✗ line: a multi-line import error or an escape sequence stays out
        return {k: _shown(v, 300) if isinstance(v, str) else v for k, v in info.items()}, None
    err = res.stderr.strip().splitlines()
    if _SET_UP not in res.stdout:  # a setup line failed (or the shell never ran)
        return None, f"`{py}` on {where}{after}: {_shown(err[-1]) if err else 'no output'} (exit {res.rc})"
    junk = _shown(res.stdout.split(_SET_UP, 1)[1]) or "nothing"
    if res.rc != 0:
        return None, f"`{py}` on {where} is not a working Python: it exited {res.rc}" + (
            f": {_shown(err[-1])}" if err else f" and printed {junk!r}"
        )
    return None, f"`{py}` on {where} is not a working Python: it printed {junk!r}, not the probe's answer"
