"""Started by root, the workers run programs as an unprivileged user (an id no account on the
host has, no supplementary groups), not as uid 0 without capabilities: uid 0 still owns root's files, which a program could
open wherever Landlock lets it (and anywhere without Landlock). Where the switch is impossible
(a user namespace that maps no such id), the sandbox still runs and says so in `protections()`."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from trainer.sandbox import Sandbox, ids, isolation

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the switch happens only when started by root")

GRID = [[1, 2, 3], [4, 5, 6]]
FLIP = "def transform(g):\n    return np.flipud(g)\n"
FLIPPED = [[4, 5, 6], [1, 2, 3]]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = (ids.NOBODY, ids.NOBODY)  # any id will do where a check only needs one that is not root

# A forked program (it names `os`): which of its ids are UID (1 each), its number of groups, and
# what it still needs after the switch: its temp dir by relative and absolute path (tempfile),
# modules not preloaded (imported from the Python installation), numpy.
IDS = """import os, tempfile
def transform(g):
    import json, decimal, csv, xml.dom.minidom
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, 'f'), 'w') as f:
            f.write(json.dumps([1]))
    with open('own', 'w') as f:
        f.write('x')
    ids = [os.getuid(), os.geteuid(), os.getgid(), os.getegid()]
    return [[int(i == UID) for i in ids] + [min(len(os.getgroups()), 9)]]
"""


def _chosen(sb) -> int:
    """The uid the workers switch to, as `protections()` reports it ("UID:GID, ...")."""
    uid, _, gid = sb.protections()["uid"].partition(",")[0].partition(":")
    assert uid == gid, sb.protections()["uid"]
    return int(uid)


def _ids(pid: int) -> tuple[list[str], list[str], list[str]]:
    with open(f"/proc/{pid}/status") as f:
        lines = {k: v.split() for k, _, v in (line.partition(":") for line in f)}
    return lines["Uid"], lines["Gid"], lines["Groups"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "fork-only"])
def test_programs_and_workers_run_as_an_unprivileged_user(fast_path):
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256, check_determinism=False, fast_path=fast_path) as sb:
        uid = _chosen(sb)
        res = sb.run_many(
            [
                IDS.replace("UID", str(uid)),
                FLIP,
                "def transform(g):\n    return [[int(v) % 3 for v in r] for r in g]\n",
            ],
            [[GRID]] * 3,
        )
        assert [(r.error, r.outputs) for r in res] == [
            (None, [[[1, 1, 1, 1, 0]]]),
            (None, [FLIPPED]),
            (None, [[[1, 2, 0], [1, 2, 0]]]),
        ], [r.detail for r in res]
        assert sb.stats["fast_path"] == (2 if fast_path else 0)
        # The processes that run fast-path programs themselves, and fork the others, too.
        workers = sb.pids() - {sb._proc.pid}
        assert workers and all(_ids(pid) == ([str(uid)] * 4, [str(uid)] * 4, []) for pid in workers), [
            _ids(p) for p in workers
        ]


# A root-owned 0600 file in a directory that Landlock lets programs read (a custom helper
# library's), or, without Landlock, anywhere. Uid 0 owns it, so without the switch a program read
# it even with every capability dropped.
READS_SECRET = """import os
def transform(g):
    try:
        with open({path!r}) as f:
            return [[min(len(f.read()), 9)]]
    except PermissionError:
        return [[0]]
"""


@pytest.fixture
def open_tmp():
    """A fresh directory under /tmp that anyone may search (pytest's tmp_path is under a 0700 one)."""
    d = tempfile.mkdtemp(prefix="arcsb-test-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


@pytest.fixture
def secret_beside_common(open_tmp):
    common = os.path.join(open_tmp, "helpers.py")
    with open(common, "w") as f:
        f.write("def helper():\n    return 1\n")
    os.chmod(common, 0o644)
    secret = os.path.join(open_tmp, "secret.key")
    fd = os.open(secret, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"root-only")
    os.close(fd)
    return common, secret


@pytest.mark.timeout(60)
@pytest.mark.parametrize("landlock", ["1", "0"], ids=["landlock", "no-landlock"])
def test_a_root_owned_private_file_is_not_readable(secret_beside_common, landlock, monkeypatch):
    common, secret = secret_beside_common
    monkeypatch.setenv("ARCCTL_SANDBOX_LANDLOCK", landlock)
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256, common_module=common) as sb:
        assert bool(sb.protections()["landlock"]) == (landlock == "1")
        res = sb.run_many([READS_SECRET.format(path=secret), READS_SECRET.format(path=common)], [[GRID]] * 2)
    # The library file beside it (0644) is readable: only the mode of the secret stops the read.
    assert [(r.error, r.outputs) for r in res] == [(None, [[[0]]]), (None, [[[9]]])], [r.detail for r in res]


DEGRADED = """
from trainer.sandbox import Sandbox
with Sandbox(workers=1, timeout_s=5.0, memory_mb=256) as sb:
    prot = sb.protections()
    res = sb.run_many([{flip!r}, {ids!r}], [[{grid!r}]] * 2)
print(repr((prot["uid"], prot.get("uid_missing", ""), [(r.error, r.outputs) for r in res])))
"""


@pytest.mark.timeout(120)
def test_without_an_unprivileged_id_programs_still_run_and_that_is_reported():
    """Root of a user namespace that maps no other id (a rootless container): the switch fails,
    the sandbox runs as before (uid 0, no capabilities) and `protections()` says so."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-Ur", "true"]).returncode != 0:
        pytest.skip("cannot create a user namespace here")
    script = DEGRADED.format(flip=FLIP, ids=IDS.replace("UID", "-1"), grid=GRID)
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run(
        ["unshare", "-Ur", sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=100
    )
    assert out.returncode == 0, out.stderr[-2000:]
    uid, why, results = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own repr
    assert uid is False and "cannot switch to uid 655" in why and "run as uid 0" in why, why
    assert results[0] == (None, [FLIPPED]) and results[1][1][0][0][:4] == [0, 0, 0, 0], results


def test_an_unreachable_installation_is_found_before_any_switch(open_tmp):
    """The zygote's check (a child that really switches): a directory the user cannot search."""
    lib = os.path.join(open_tmp, "shut", "lib")
    os.makedirs(lib)
    os.chmod(os.path.dirname(lib), 0o700)
    assert isolation.unprivileged_cannot_reach(*NOBODY, [open_tmp], []) == ""
    why = isolation.unprivileged_cannot_reach(*NOBODY, [lib], [open_tmp])
    assert why == f"uid {NOBODY[0]} cannot read {lib}"


EXPOSE = """
import os, sys
from trainer.sandbox import isolation
base = sys.argv[1]
inside = os.path.join(base, "home", "py")
print(isolation.unprivileged_cannot_reach(65534, 65534, [inside], []) != "")
print(isolation.expose_to(65534, 65534, [inside]))
print(repr(isolation.unprivileged_cannot_reach(65534, 65534, [inside], [])))
print(sorted(os.listdir(os.path.join(base, "home"))), os.listdir(inside))
"""


@pytest.mark.timeout(60)
def test_an_installation_under_a_private_home_is_exposed_alone(open_tmp):
    """A Python under root's 0700 home (pyenv, conda): in the zygote's mount namespace the home
    is covered by an empty tmpfs holding only the installation, which the user can then reach;
    the rest of the home is hidden. Run in a mount namespace of its own (the host sees nothing)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("cannot create a mount namespace here")
    home = Path(open_tmp) / "home"
    (home / "py").mkdir(parents=True)
    (home / "py" / "lib.py").write_text("x = 1\n")
    (home / ".ssh").mkdir()
    os.chmod(home, 0o700)
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", EXPOSE, open_tmp],
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["True", f"['{home}']", "''", "['py'] ['lib.py']"]
    assert sorted(os.listdir(home)) == [".ssh", "py"]  # the host's view is unchanged


def _uids_of_other_processes() -> set[int]:
    """Owners of every process but sandboxes' (other tests' sandboxes use the same id)."""
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if ids.ZYGOTE_MODULE not in f.read():
                        out.add(os.stat(f"/proc/{name}").st_uid)
            except OSError:
                pass
    return out


@pytest.mark.timeout(60)
def test_the_workers_id_is_no_accounts_on_this_host():
    """It was 65534, which the host's own `nobody` (NFS's squashed files, daemons) shares: such a
    process could signal the workers. Now an id that no passwd or group entry, no name service
    lookup and no other process has."""
    with Sandbox(workers=1, timeout_s=5.0, memory_mb=256) as sb:
        uid = _chosen(sb)
        assert "no account on this host has it" in sb.protections()["uid"], sb.protections()["uid"]
        others = _uids_of_other_processes()
        assert sb.run_one(FLIP, [GRID]).outputs == [FLIPPED]
    assert uid != 65534 and uid in ids.CANDIDATES
    assert uid not in ids.ids_in("/etc/passwd") | ids.ids_in("/etc/group"), uid
    assert uid not in others, uid


def test_taken_ids_are_skipped_and_none_when_all_are(tmp_path):
    """Read from passwd/group-format files and the owners of running processes."""
    passwd, group, proc = tmp_path / "passwd", tmp_path / "group", tmp_path / "proc"
    proc.mkdir()
    passwd.write_text(f"a:x:{ids.CANDIDATES[0]}:1::/:/bin/sh\nbroken line\n\n#:x:not-a-number:\n")
    group.write_text(f"g:x:{ids.CANDIDATES[1]}:\n")
    for pid, uid, cmd in (("123", ids.CANDIDATES[2], b"sshd\0"), ("124", ids.CANDIDATES[3], ids.ZYGOTE_MODULE)):
        (proc / pid).mkdir()
        (proc / pid / "cmdline").write_bytes(b"python\0-m\0" + cmd)
        os.chown(proc / pid, uid, 0)
    # Another sandbox's worker (124) does not take its id: every sandbox uses the same one.
    assert ids.unused_id(str(passwd), str(group), str(proc)) == ids.CANDIDATES[3]
    group.write_text("".join(f"g{i}:x:{i}:\n" for i in ids.CANDIDATES))
    assert ids.unused_id(str(passwd), str(group), str(proc)) is None
    assert ids.unused_id(str(tmp_path / "missing"), str(tmp_path / "missing"), str(proc)) == ids.CANDIDATES[0]
