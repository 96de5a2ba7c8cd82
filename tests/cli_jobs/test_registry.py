"""The SQLite registry: lookups, two-phase submit rows, several processes writing at once."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from jobs.backends.base import JobState, JobStatus
from jobs.errors import RegistryError
from jobs.registry import SUBMITTING, Registry
from jobs.spec import JobSpec


def _spec(name: str, run_dir: str) -> JobSpec:
    return JobSpec(kind="grpo", name=name, template="grpo", params={"model_path": "m", "dataset": "d"}, run_dir=run_dir)


def test_reserve_confirm_get(tmp_path):
    reg = Registry(tmp_path / "r.sqlite")
    jid = reg.reserve(_spec("alpha", "/runs/alpha"))
    j = reg.get(jid)
    assert j.state == SUBMITTING and j.backend_job_id is None and len(jid) == 8
    reg.confirm(jid, "123.0")
    j = reg.get(jid)
    assert j.state == "queued" and j.backend_job_id == "123.0"
    assert j.spec() == _spec("alpha", "/runs/alpha").model_copy(update={"created": j.spec().created})
    assert reg.get(jid[:4]).id == jid  # unique prefix
    assert reg.get("alpha").id == jid  # name
    assert reg.get("/runs/alpha").id == jid  # run dir
    assert reg.run_dir_taken("/runs/alpha") and not reg.run_dir_taken("/runs/beta")


def test_unknown_and_ambiguous_refs(tmp_path):
    reg = Registry(tmp_path / "r.sqlite")
    reg.reserve(_spec("alpha", "/runs/alpha"))
    with pytest.raises(RegistryError, match="no job 'alphx'.*did you mean 'alpha'"):
        reg.get("alphx")
    reg.reserve(_spec("alpha", "/other/alpha"))
    with pytest.raises(RegistryError, match="ambiguous"):
        reg.get("alpha")
    with pytest.raises(RegistryError, match="empty"):
        reg.get(" ")


def test_update_statuses_only_touches_changed_rows(tmp_path):
    reg = Registry(tmp_path / "r.sqlite")
    a = reg.reserve(_spec("a", "/r/a"))
    b = reg.reserve(_spec("b", "/r/b"))
    n = reg.update_statuses(
        {a: JobStatus(JobState.RUNNING), b: JobStatus(JobState.FAILED, exit_code=3, reason="exit_code")}
    )
    assert n == 2
    assert reg.update_statuses({a: JobStatus(JobState.RUNNING)}) == 0
    assert reg.get(b).exit_code == 3 and reg.get(b).terminal
    assert [j.id for j in reg.active()] == [a]
    assert [j.id for j in reg.list(states=["failed"])] == [b]


def test_list_is_newest_first_and_limited(tmp_path):
    reg = Registry(tmp_path / "r.sqlite")
    ids = [reg.reserve(_spec(f"j{i}", f"/r/j{i}")) for i in range(5)]
    got = [j.id for j in reg.list()]
    assert got == ids[::-1]
    assert len(reg.list(limit=2)) == 2
    assert reg.list()[0].spec_json is None  # ls does not load specs


def test_claim_is_shared_rate_limit(tmp_path):
    r1 = Registry(tmp_path / "r.sqlite")
    r2 = Registry(tmp_path / "r.sqlite")
    assert r1.claim("watch:x", 10, now=100.0)
    assert not r2.claim("watch:x", 10, now=105.0)
    assert r2.claim("watch:x", 10, now=111.0)


def _writer(path: str, tag: str, n: int, q) -> None:
    reg = Registry(path)
    ids = []
    for i in range(n):
        jid = reg.reserve(_spec(f"{tag}{i}", f"/r/{tag}{i}"))
        reg.confirm(jid, f"{tag}-{i}")
        reg.update_statuses({jid: JobStatus(JobState.RUNNING)})
        ids.append(jid)
    q.put(ids)


@pytest.mark.timeout(120)
def test_two_processes_write_at_once(tmp_path):
    path = str(tmp_path / "r.sqlite")
    Registry(path)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, tag, 150, q)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    got = [q.get(timeout=100) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    reg = Registry(path)
    assert reg.count() == 300
    assert len(set(got[0]) | set(got[1])) == 300
    assert {j.state for j in reg.list()} == {"running"}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_registry_is_one_clear_error(tmp_path):
    bad = tmp_path / "r.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RegistryError, match=str(bad)):
        Registry(bad)


def test_threads_share_one_registry(tmp_path):
    """The dashboard polls from worker threads while the UI thread reads."""
    import threading

    reg = Registry(tmp_path / "r.sqlite")
    errors = []

    def work(tag):
        try:
            for i in range(100):
                jid = reg.reserve(_spec(f"{tag}{i}", f"/r/{tag}{i}"))
                reg.update_statuses({jid: JobStatus(JobState.RUNNING)})
                reg.rows()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in "abcd"]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and reg.count() == 400
