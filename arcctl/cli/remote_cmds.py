"""`arcctl fetch RUN CHECKPOINT [DEST]` copies a checkpoint back (over SFTP for remote runs);
`arcctl hosts [HOST…]` checks that ssh hosts answer, with which schedulers, and can add a host key
after the user verified its fingerprint (`--trust SHA256:…`)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List, Optional

import typer

from arcctl.cli.errors import user_errors
from arcctl.cli.numbers import seconds_option
from arcctl.cli.resolve import resolve_run
from arcctl.cli.terminal_text import LINE_LIMIT, shown


def _copy_checkpoint(src: str, target: Path, advance) -> int:
    """Copy the checkpoint at SRC to TARGET, staged (jobs.staged_dir): TARGET appears whole or not
    at all. Only regular files and folders are copied: a link to /dev/zero or a named pipe in a
    checkpoint would never end, a link to a folder (`/`) could copy the whole machine; each is
    refused, naming it, and nothing is left behind."""
    import shutil
    import stat

    from jobs.errors import SpecError
    from jobs.staged_dir import staged_dir

    def copy(s: str, d: str) -> str:
        if not stat.S_ISREG(os.stat(s).st_mode):
            raise SpecError(f"{s}: not a regular file (a device, pipe or socket); the checkpoint is not copied")
        out = shutil.copy2(s, d)
        advance(Path(d).stat().st_size)
        return out

    def linked_folders(folder: str, names: list[str]) -> list[str]:
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path) and os.path.isdir(path):
                raise SpecError(f"{path}: a link to a folder ({os.path.realpath(path)}); the checkpoint is not copied")
        return []

    with staged_dir(target, "the checkpoint", SpecError) as partial:
        try:
            shutil.copytree(src, partial, copy_function=copy, ignore=linked_folders)
        except OSError as e:
            raise SpecError(f"{target}: cannot write the checkpoint there ({e.strerror or e})") from None
    return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())


def register(app: typer.Typer) -> None:
    @app.command("fetch")
    def fetch_cmd(
        run: str = typer.Argument(..., help="job id, prefix or name; a run dir; or HOST:/path/to/run"),
        checkpoint: str = typer.Argument(..., help="checkpoint-N, N, or 'newest'"),
        dest: Optional[Path] = typer.Argument(None, help="where to put it (default ./<run>/<checkpoint>)"),
    ) -> None:
        """Copy a checkpoint of a (remote) run to this machine."""
        with user_errors():
            from jobs.errors import SpecError

            where = resolve_run(run)
            run_dir, host, fs = where.run_dir, where.host, where.fs
            from jobs.rundir import pick_checkpoint

            ck = pick_checkpoint(run_dir, None if checkpoint in ("newest", "latest", "last") else checkpoint, fs)
            target = dest if dest is not None else Path(Path(run_dir).name) / ck.name
            if target.is_dir():
                target = target / ck.name
            if target.exists():
                raise SpecError(f"{target} already exists; not overwriting it")
            inside = os.path.realpath(target).startswith(os.path.realpath(run_dir).rstrip("/") + "/")
            if host is None and inside:
                # a copy inside the run dir would copy itself, or be taken for one of its checkpoints
                raise SpecError(f"{target} is inside the run dir {run_dir}; fetch it to a folder outside the run")
            from arcctl.cli.progress_out import progress

            t0 = time.monotonic()
            with progress(f"fetch {ck.name}", unit="B") as advance:
                if host:
                    from jobs.ssh_transport import default_pool

                    nbytes = default_pool().download_dir(host, ck.path, target, on_bytes=advance)
                else:
                    nbytes = _copy_checkpoint(ck.path, target, advance)
            src = f"{host}:{ck.path}" if host else ck.path
            typer.echo(f"{shown(src)} -> {shown(target)}  ({nbytes / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s)")

    @app.command("hosts")
    def hosts_cmd(
        hosts: Optional[List[str]] = typer.Argument(
            None, help="ssh host aliases (default: every Host of ~/.ssh/config)"
        ),
        trust: Optional[str] = typer.Option(
            None, "--trust", metavar="SHA256:…", help="add HOST's key to known_hosts if it has this fingerprint"
        ),
        timeout: float = seconds_option(10.0, "--timeout", 0.1, 3600, "seconds to wait for each host"),
    ) -> None:
        """Check ssh connectivity and host keys; show which schedulers each host has."""
        with user_errors():
            from jobs.errors import RemoteError, SpecError
            from jobs.ssh_transport import SSHPool, list_host_aliases, parse_hop, trust_host

            if trust:
                if not hosts or len(hosts) != 1:
                    raise SpecError("--trust needs exactly one host")
                fp, path, added = trust_host(hosts[0], trust)
                typer.echo(
                    f"{hosts[0]}: {'added key' if added else 'key'} {fp} {'to' if added else 'already in'} {path}"
                )
            names = list(hosts or list_host_aliases())
            if not names:
                raise SpecError("no hosts given and none in the ssh config (ARCCTL_SSH_CONFIG or ~/.ssh/config)")
            pool = SSHPool(connect_timeout=timeout)
            failed = 0
            for name in names:
                cfg = parse_hop(name)  # an alias, or `[user@]host[:port]` (`root@[::1]:2222`)
                name_ = f"[{cfg.hostname}]" if ":" in cfg.hostname else cfg.hostname  # IPv6: [::1]:22
                addr = f"{cfg.user + '@' if cfg.user else ''}{name_}:{cfg.port}"
                t0 = time.monotonic()
                try:
                    rc, out, _ = pool.exec(
                        name,
                        "for c in sbatch squeue condor_submit condor_q; do "
                        "command -v $c >/dev/null 2>&1 && echo $c; done; true",
                        timeout=timeout,
                    )
                    ms = (time.monotonic() - t0) * 1000
                    found = " ".join(out.split()) or "no scheduler commands on PATH"
                    typer.echo(shown(f"{name:<16} {addr:<28} ok  {ms:5.0f} ms  {found}", LINE_LIMIT))
                except RemoteError as e:
                    failed += 1
                    # the message may quote what the server sent (a banner, a refusal): one line,
                    # no escape sequence reaches the terminal
                    typer.echo(shown(f"{name:<16} {addr:<28} FAILED  {e}", LINE_LIMIT))  # cut: it quotes the name
            pool.close()
            if failed:
                raise typer.Exit(1)
