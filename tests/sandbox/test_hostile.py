"""Hostile battery: programs that try to escape, hang, exhaust or poison the sandbox.

For each: the right error kind, nothing created/changed/read outside the sandbox (sentinel files),
no process left behind, and the pool is back at full strength scoring correct programs.
"""

import os
import socket
import time
import tomllib

import pytest

from tests.sandbox.conftest import descendants, sandbox_processes
from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]
FLIP = "def transform(g):\n    return np.flipud(g)\n"
FLIPPED = [[4, 5, 6], [1, 2, 3]]
SECRET = "TOPSECRET-7f3a"
WORKERS = 2
TOKENS = ("WANDB_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY")

# (id, expected error kind or None for a valid result, program source), from the TOML file beside
# this one, where the programs read as code.
with open(os.path.join(os.path.dirname(__file__), "hostile_programs.toml"), "rb") as _f:
    HOSTILE = [(p["id"], p.get("expect"), p["src"]) for p in tomllib.load(_f)["program"]]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    sentinel_dir = tmp_path_factory.mktemp("sentinel")
    sentinel = sentinel_dir / "keep.txt"
    sentinel.write_text("original")
    key = tmp_path_factory.mktemp("fakehome") / "id_rsa"
    key.write_text(SECRET)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.05)
    # Secrets in the owner's environment must not reach programs (started after they are set).
    saved = {k: os.environ.get(k) for k in TOKENS}
    os.environ.update({k: f"{SECRET}-{k}" for k in TOKENS})
    before = descendants()
    # 4 s: the gradual memory bomb writes ~512 MB (glibc perturbs fresh chunks) before its limit hits,
    # ~1.2 s on an idle 2-core VM; under a loaded CI it must still end as "memory", not "timeout"
    with Sandbox(workers=WORKERS, timeout_s=4.0, memory_mb=512, recycle_every=100, kill_grace_s=0.5) as sb:
        yield {"sb": sb, "dir": sentinel_dir, "file": sentinel, "key": key, "listener": listener, "before": before}
    listener.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    assert descendants() == before, "sandbox left processes behind after close()"


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind,src", [pytest.param(k, s, id=i) for i, k, s in HOSTILE])
def test_hostile_program(env, kind, src):
    sb = env["sb"]
    src = src.format(S=env["dir"], F=env["file"], K=env["key"], P=os.getpid(), PORT=env["listener"].getsockname()[1])
    files_before = _snapshot(env["dir"])
    # Run the hostile program next to correct ones, in one batch, as the reward does.
    res = sb.run_many([FLIP, src, FLIP], [[GRID]] * 3)
    hostile = res[1]
    assert hostile.error == kind, (hostile.error, hostile.detail)
    if kind is not None:
        assert hostile.outputs is None
    assert SECRET not in hostile.stdout + hostile.detail
    assert "root:x:0:0" not in hostile.stdout
    assert res[0].outputs == [FLIPPED] and res[2].outputs == [FLIPPED]

    # Nothing created, changed or removed outside the sandbox.
    assert _snapshot(env["dir"]) == files_before
    assert env["file"].read_text() == "original"
    with pytest.raises(OSError):  # no connection ever reached the listener
        env["listener"].accept()
    # No process left behind: every descendant is the zygote or a live worker, and nothing
    # started by this sandbox lives on elsewhere (an orphan is no longer our descendant).
    assert descendants() - env["before"] <= sb.pids()
    assert sandbox_processes(sb) <= sb.pids()
    # The next correct programs still score correctly and the pool is back at full strength.
    after = sb.run_many([f"# {k}\n" + FLIP for k in range(20)], [[GRID]] * 20)
    assert all(r.error is None and r.outputs == [FLIPPED] for r in after)
    assert sb.ready_workers() == sb.total_workers
    assert len(sb.pids()) == sb.total_workers + 1
    assert descendants() - env["before"] <= sb.pids()


def test_battery_is_big_enough():
    assert len(HOSTILE) >= 70
    assert len({i for i, _, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.timeout(120)
def test_mixed_hostile_batch_throughput_recovers(env):
    """All hostile programs in one batch with correct ones interleaved: every result in order."""
    sb = env["sb"]
    progs, kinds = [], []
    for _, kind, src in HOSTILE:
        if kind == "timeout":  # keep the batch fast; timeouts are covered one by one above
            continue
        progs += [
            src.format(S=env["dir"], F=env["file"], K=env["key"], P=os.getpid(), PORT=env["listener"].getsockname()[1]),
            FLIP,
        ]
        kinds += [kind, None]
    res = sb.run_many(progs, [[GRID]] * len(progs))
    assert [r.error for r in res] == kinds, [(k, r.error, r.detail) for k, r in zip(kinds, res) if k != r.error]
    flips = res[1::2]
    assert all(r.outputs == [FLIPPED] for r in flips)
    assert all(r.outputs == [GRID] for r, k in zip(res[0::2], kinds[0::2]) if k is None)
    assert env["file"].read_text() == "original"
    t0 = time.perf_counter()
    good = sb.run_many([f"# {k}\n" + FLIP for k in range(200)], [[GRID]] * 200)
    assert all(r.outputs == [FLIPPED] for r in good)
    assert sb.ready_workers() == sb.total_workers
    assert time.perf_counter() - t0 < 30  # generous: recovery, not speed, is the point


@pytest.mark.timeout(120)
def test_disk_fill_is_capped_per_program_and_never_accumulates():
    """Many files of 1 MB per program: at most `disk_mb` in total, and nothing left for the next."""
    filler = (
        "import os\ndef transform(g):\n    before = len(os.listdir('.'))\n    total = 0\n"
        "    for i in range(40):\n        try:\n            with open(f'f{i}.bin', 'wb') as f:\n"
        "                f.write(b'x' * 2**20)\n            total += 2**20\n"
        "        except OSError:\n            break\n    print(before, total // 2**20)\n    return g\n"
    )
    with Sandbox(workers=1, timeout_s=5.0, disk_mb=16) as sb:
        assert "tmpfs of 16 MB" in sb.protections()["disk"]
        res = sb.run_many([filler + f"# {k}\n" for k in range(5)], [[GRID]] * 5)
        for r in res:
            assert r.error is None, r.detail
            left_before, written = map(int, r.stdout.split("\n")[0].split())
            assert left_before == 0  # the previous program's files are gone
            assert 8 <= written <= 16  # capped by the tmpfs, every time (so it was emptied)
