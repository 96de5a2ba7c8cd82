"""Dashboard test fixtures: copies of the committed run dirs (tests may grow them) and an
isolated ARCCTL_HOME with a real SQLite registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "runs"


@pytest.fixture
def arc_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ARCCTL_HOME", str(home))
    monkeypatch.setenv("ARCCTL_CONFIG_DIR", str(tmp_path / "config"))
    return home


@pytest.fixture
def runs(arc_home) -> Path:
    """The fixture runs copied under ARCCTL_HOME/runs, each with its spec's run_dir fixed up."""
    import json

    root = arc_home / "runs"
    root.mkdir()
    for d in FIXTURES.iterdir():
        dst = root / d.name
        shutil.copytree(d, dst)
        spec = json.loads((dst / "spec.json").read_text())
        spec["run_dir"] = str(dst)
        (dst / "spec.json").write_text(json.dumps(spec, indent=2))
    return root


@pytest.fixture
def registry(runs):
    """A real registry listing the two fixture runs as finished local jobs."""
    from jobs.registry import Registry
    from jobs.spec import JobSpec

    reg = Registry()
    for name in ("collapsing", "healthy"):
        spec = JobSpec.read(runs / name)
        jid = reg.reserve(spec)
        reg.set_state(jid, "completed", exit_code=0)
    yield reg
    # Jobs a test submitted (fork, new job) were really launched: cancel them the real way.
    from jobs.submit import cancel_job

    for job in reg.active(with_spec=True):
        try:
            cancel_job(reg, job.id)
        except Exception:  # noqa: BLE001 - already gone
            pass
    reg.close()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests (Textual's Pilot) in a fresh event loop; no asyncio plugin needed."""
    import asyncio
    import inspect

    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {k: pyfuncitem.funcargs[k] for k in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None
