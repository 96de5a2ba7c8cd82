"""The job registry: one SQLite file (WAL) under ARCCTL_HOME.

Safe with several arcctl processes (CLI + dashboard): WAL lets readers run during a write, every
write is one short `BEGIN IMMEDIATE` transaction and waits (busy timeout) instead of failing.
Submitting is two-phase: `reserve` records the job (state `submitting`) *before* the backend is
called and `confirm` stores the backend's job id after, so a crash in between leaves a row that
`jobs.submit.recover` can resolve — never a launched job the registry does not know, never a
second launch of the same spec.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

from jobs import config
from jobs.errors import RegistryError

SUBMITTING = "submitting"
TERMINAL = ("completed", "failed", "cancelled")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    template TEXT,
    profile TEXT,
    backend TEXT NOT NULL,
    backend_job_id TEXT,
    host TEXT,
    run_dir TEXT NOT NULL,
    state TEXT NOT NULL,
    exit_code INTEGER,
    reason TEXT,
    detail TEXT,
    spec_json TEXT NOT NULL,
    parent TEXT,
    restarts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_name ON jobs(name);
CREATE INDEX IF NOT EXISTS jobs_run_dir ON jobs(run_dir);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

# Columns `ls` needs: everything but the spec, so listing 10,000 jobs stays cheap.
LIST_COLUMNS = (
    "id",
    "name",
    "kind",
    "template",
    "profile",
    "backend",
    "backend_job_id",
    "host",
    "run_dir",
    "state",
    "exit_code",
    "reason",
    "detail",
    "parent",
    "restarts",
    "created",
    "updated",
)


@dataclass
class Job:
    id: str
    name: str
    kind: str
    template: str | None
    profile: str | None
    backend: str
    backend_job_id: str | None
    host: str | None
    run_dir: str
    state: str
    exit_code: int | None
    reason: str | None
    detail: str | None
    parent: str | None
    restarts: int
    created: float
    updated: float
    spec_json: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def spec(self):
        from jobs.spec import JobSpec

        if self.spec_json is None:
            raise RegistryError(f"job {self.id}: spec not loaded")
        return JobSpec.from_json(self.spec_json)

    def as_dict(self, with_spec: bool = False) -> dict[str, Any]:
        d = {c: getattr(self, c) for c in LIST_COLUMNS}
        if with_spec and self.spec_json is not None:
            import json

            d["spec"] = json.loads(self.spec_json)
        return d


def check_states(states: Iterable[str]) -> list[str]:
    """`ls --state` values, each a known state (a typo would list nothing, as if no job had it)."""
    from jobs.backends.base import JobState

    known = [SUBMITTING, *(s.value for s in JobState)]
    for s in states:
        if s not in known:
            raise RegistryError(f"--state {s!r}: not a job state ({', '.join(known)})")
    return list(dict.fromkeys(states))


class Registry:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else config.registry_path()
        # One connection shared by a process's threads (the dashboard polls from a worker):
        # the lock keeps one thread's transaction from interleaving with another's statements.
        self._lock = threading.RLock()
        # True when ARCCTL_HOME cannot be written (a read-only mount, another user's home):
        # reads work, every write raises RegistryError.
        self.readonly = False
        self.readonly_why = ""  # for messages: why it is read-only
        try:
            if self.path.exists() and not self.path.is_file():  # sqlite says "disk I/O error" of a pipe
                raise RegistryError(
                    f"registry {self.path}: not a regular file (a folder, pipe or device); move it aside"
                )
            if self.path.exists() and not os.access(self.path.parent, os.W_OK):
                self._db = self._connect_readonly()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=30000")
            if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                # a newer arcctl's registry: reading it is harmless, writing with our idea of its
                # tables could break the rows it relies on
                self.readonly = True
                self.readonly_why = (
                    f"a newer arcctl wrote it, schema {version}, this one knows {SCHEMA_VERSION}; upgrade arcctl"
                )
            elif version < SCHEMA_VERSION:
                with self._tx() as db:
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            db.execute(stmt)
                    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise RegistryError(f"registry {self.path}: {self._why(e)}") from None
        except OSError as e:
            blocker = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
            why = f"{blocker} is a file, not a folder (ARCCTL_HOME?)" if blocker else (e.strerror or str(e))
            raise RegistryError(f"registry {self.path}: {why}") from None

    def _connect_readonly(self) -> sqlite3.Connection:
        """A read-only connection. WAL needs a writable -shm file next to the database; where none
        can be made, `immutable` reads the main file alone (what the last writer checkpointed)."""
        self.readonly = True
        self.readonly_why = f"{self.path.parent} is not writable"
        uri = "file:" + quote(str(self.path.absolute()))
        last: Exception | None = None
        for mode in ("mode=ro", "mode=ro&immutable=1"):
            try:
                db = sqlite3.connect(
                    f"{uri}?{mode}", uri=True, timeout=30, isolation_level=None, check_same_thread=False
                )
                db.execute("SELECT COUNT(*) FROM jobs").fetchone()
                return db
            except sqlite3.DatabaseError as e:
                last = e
        raise RegistryError(f"registry {self.path}: read-only and unreadable ({last})")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        if self.readonly:  # refused here: an immutable or newer database must not be written at all
            raise RegistryError(f"registry {self.path}: opened read-only ({self.readonly_why})")
        with self._lock:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as e:
                raise RegistryError(f"registry {self.path}: {self._why(e)}") from None
            try:
                yield db
                db.execute("COMMIT")
            except sqlite3.DatabaseError as e:  # e.g. a damaged page found by the write
                self._rollback()
                raise RegistryError(f"registry {self.path}: {self._why(e)}") from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass  # no transaction left to roll back (SQLite ended it on the error)

    def _why(self, e: sqlite3.DatabaseError) -> str:
        if self.readonly:
            return f"{e} (opened read-only: {self.readonly_why})"
        if "malformed" in str(e) or "not a database" in str(e):
            return f"{e}; the file is damaged: move it aside to start a new registry"
        if str(e).startswith(("no such table", "no such column")):  # marked version 1, tables not ours
            return f"{e}; not a registry of this arcctl: move it aside to start a new registry"
        return str(e)

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()
            except sqlite3.DatabaseError as e:
                raise RegistryError(f"registry {self.path}: {self._why(e)}") from None

    # ---- writes ------------------------------------------------------------------------------

    def reserve(self, spec, state: str = SUBMITTING, detail: str | None = None) -> str:
        """Phase 1 of a submit: the job exists in the registry before any backend sees it."""
        now = time.time()
        parent = spec.parent.run_dir if spec.parent else None
        with self._tx() as db:
            for _ in range(20):
                jid = secrets.token_hex(4)
                if not db.execute("SELECT 1 FROM jobs WHERE id=?", (jid,)).fetchone():
                    break
            db.execute(
                "INSERT INTO jobs (id,name,kind,template,profile,backend,host,run_dir,state,detail,spec_json,"
                "parent,restarts,created,updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,?,?)",
                (
                    jid,
                    spec.name,
                    spec.kind,
                    spec.template,
                    spec.profile,
                    spec.backend,
                    spec.host,
                    spec.run_dir,
                    state,
                    detail,
                    spec.to_json(),
                    parent,
                    spec.created.timestamp(),
                    now,
                ),
            )
        return jid

    def confirm(self, job_id: str, backend_job_id: str, state: str = "queued") -> None:
        """Phase 2: the backend accepted the job."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET backend_job_id=?, state=?, reason=NULL, detail=NULL, exit_code=NULL, updated=? WHERE id=?",
                (backend_job_id, state, time.time(), job_id),
            )

    def set_state(
        self,
        job_id: str,
        state: str,
        exit_code: int | None = None,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state=?, exit_code=?, reason=?, detail=?, updated=? WHERE id=?",
                (state, exit_code, reason, detail, time.time(), job_id),
            )

    def update_statuses(self, updates: dict[str, Any]) -> int:
        """{job_id: JobStatus} in one transaction; rows whose values did not change are skipped.
        Returns how many rows changed."""
        if not updates:
            return 0
        now = time.time()
        changed = 0
        with self._tx() as db:
            for jid, st in updates.items():
                state = st.state.value if hasattr(st.state, "value") else str(st.state)
                cur = db.execute(
                    "UPDATE jobs SET state=?, exit_code=?, reason=?, detail=?, updated=? WHERE id=? AND "
                    "(state IS NOT ? OR exit_code IS NOT ? OR reason IS NOT ? OR detail IS NOT ?)",
                    (state, st.exit_code, st.reason, st.detail, now, jid, state, st.exit_code, st.reason, st.detail),
                )
                changed += cur.rowcount
        return changed

    def restart(self, job_id: str, spec, seen: Job | None = None) -> None:
        """A resume relaunches the same job (same run dir): new spec, restarts+1, back to submitting.
        With `seen` (the row the caller decided on), only if the row is still as seen: two arcctl
        processes resuming one job at once (two shells, the CLI and the dashboard's auto-resume)
        would otherwise both launch it into the same run dir; the second gets a RegistryError."""
        sql = (
            "UPDATE jobs SET spec_json=?, state=?, backend_job_id=NULL, exit_code=NULL, reason=NULL, "
            "detail=NULL, restarts=restarts+1, updated=? WHERE id=?"
        )
        args: tuple = (spec.to_json(), SUBMITTING, time.time(), job_id)
        if seen is not None:
            sql += " AND state=? AND restarts=?"
            args += (seen.state, seen.restarts)
        with self._tx() as db:
            if db.execute(sql, args).rowcount == 0 and seen is not None:
                raise RegistryError(
                    f"job {job_id} ({seen.name}) was resumed by another arcctl meanwhile "
                    f"(it is no longer {seen.state}); see arcctl ls"
                )

    # ---- reads -------------------------------------------------------------------------------

    def _rows(self, sql: str, args: Iterable[Any] = (), with_spec: bool = False) -> list[Job]:
        cols = LIST_COLUMNS + (("spec_json",) if with_spec else ())
        return [Job(*row) for row in self._query(f"SELECT {','.join(cols)} FROM jobs {sql}", args)]

    def list(
        self,
        states: Iterable[str] | None = None,
        limit: int | None = None,
        with_spec: bool = False,
        backend: str | None = None,
    ) -> list[Job]:
        """Newest first."""
        where, args = [], []
        if states:
            states = list(states)
            where.append(f"state IN ({','.join('?' * len(states))})")
            args += states
        if backend:
            where.append("backend=?")
            args.append(backend)
        sql = (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created DESC, id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql, args, with_spec)

    def rows(
        self, columns: Iterable[str] = LIST_COLUMNS, states: Iterable[str] | None = None, limit: int | None = None
    ) -> list[tuple]:
        """Plain tuples of `columns`, newest first: the fast path behind `arcctl ls`."""
        cols = [c for c in columns if c in LIST_COLUMNS]
        where, args = "", []
        if states:
            states = list(states)
            where = f" WHERE state IN ({','.join('?' * len(states))})"
            args = states
        sql = f"SELECT {','.join(cols)} FROM jobs{where} ORDER BY created DESC, id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._query(sql, args)

    def has_state(self, state: str) -> bool:
        return bool(self._query("SELECT 1 FROM jobs WHERE state=? LIMIT 1", (state,)))

    def active(self, with_spec: bool = True) -> list[Job]:
        """Jobs that may still change state (the watcher polls these)."""
        return self._rows(f"WHERE state NOT IN ({','.join('?' * len(TERMINAL))}) ORDER BY created", TERMINAL, with_spec)

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM jobs")[0][0]

    def run_dir_taken(self, run_dir: str) -> bool:
        return bool(self._query("SELECT 1 FROM jobs WHERE run_dir=? LIMIT 1", (run_dir,)))

    def get(self, ref: str) -> Job:
        """By id, unique id prefix, name or run dir. Unknown or ambiguous -> RegistryError.

        A name can look like an id prefix (`--name 1`, `--name beef`): when REF is one job's name
        and the start of another job's id, it is refused as ambiguous rather than resolved to
        either, so `cancel` never stops a job the user did not mean. A whole id wins."""
        ref = ref.strip()
        if not ref:
            raise RegistryError("empty job id")
        exact = self._rows("WHERE id=?", (ref,), True)
        if exact:  # a whole id is what `ls` printed, and what arcctl's own lookups pass
            return exact[0]
        by_id = []
        if len(ref) < 8 and all(c in "0123456789abcdef" for c in ref.lower()):
            by_id = self._rows("WHERE id >= ? AND id < ? ORDER BY id", (ref.lower(), ref.lower() + "g"), True)
        by_name = self._rows("WHERE name=? ORDER BY created DESC", (ref,), True)
        if len(by_id) > 1:
            named = f"; job {by_name[0].id} is named '{ref}'" if by_name else ""
            raise RegistryError(f"job id prefix '{ref}' is ambiguous: {', '.join(r.id for r in by_id[:5])}{named}")
        if len(by_name) > 1:
            raise RegistryError(f"job name '{ref}' is ambiguous: ids {', '.join(r.id for r in by_name[:5])}")
        if by_id and by_name and by_id[0].id != by_name[0].id:
            raise RegistryError(
                f"'{ref}' is ambiguous: job {by_name[0].id} is named '{ref}' and job {by_id[0].id}'s id "
                "starts with it; use the full id"
            )
        rows = by_id or by_name
        if not rows:
            rows = self._rows(
                "WHERE run_dir=? ORDER BY created DESC",
                (str(Path(ref).expanduser().absolute()) if not ref.startswith("/") else ref.rstrip("/"),),
                True,
            )
        if not rows:
            from jobs.sweep import suggest

            names = [r[0] for r in self._query("SELECT name FROM jobs ORDER BY created DESC LIMIT 2000")]
            raise RegistryError(f"no job {ref!r} in {self.path}{suggest(ref, names)}")
        return rows[0]

    # ---- shared rate limits (the status watcher) ----------------------------------------------

    def claim(self, key: str, interval_s: float, now: float | None = None) -> bool:
        """True for exactly one caller per `interval_s` across all processes sharing the registry."""
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            if row is not None and now - float(row[0]) < interval_s:
                return False
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, repr(now)))
            return True
