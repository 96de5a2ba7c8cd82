"""What a remote command printed, without what the host's login printed before it.

sshd runs every command through the user's login shell, and a startup file that prints to stdout
(an `echo` or a `module load` banner in ~/.bashrc, a site's /etc/bashrc) puts that text before the
command's own output: a runs_root expanded to 'Welcome…\\n/home/me' was refused, condor_q's JSON
was "not JSON", a run-dir file read through the system ssh began with the banner (spec.json
unreadable, the banner in `arcctl logs`) and a checkpoint's tar stream was no tar. Each command
prints MARK first; everything up to it is the login's, and dropped.
"""

from __future__ import annotations

# \036 (record separator) around a word: no banner holds it by chance
MARK = b"\x1earcctl-output\x1e"
_PRINT_MARK = "printf '\\036arcctl-output\\036'; "


def marked(command: str) -> str:
    """COMMAND as the login shell gets it: MARK printed first (printf is POSIX; sh, bash, zsh,
    csh and fish all run `printf …; COMMAND`)."""
    return _PRINT_MARK + command


def after_mark(out: bytes | bytearray) -> bytes:
    """OUT past the first MARK; all of it when there is none (the shell never ran the command)."""
    i = out.find(MARK)
    return bytes(out) if i < 0 else bytes(out[i + len(MARK) :])
