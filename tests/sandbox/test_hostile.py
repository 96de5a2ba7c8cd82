"""Hostile battery: programs that try to escape, hang, exhaust or poison the sandbox.

For each: the right error kind, nothing created/changed/read outside the sandbox (sentinel files),
no process left behind, and the pool is back at full strength scoring correct programs.
"""
import os
import socket
import time

import pytest

from tests.sandbox.conftest import descendants, sandbox_processes
from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]
FLIP = "def transform(g):\n    return np.flipud(g)\n"
FLIPPED = [[4, 5, 6], [1, 2, 3]]
SECRET = "TOPSECRET-7f3a"
WORKERS = 2
TOKENS = ("WANDB_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY")

# (id, expected error kind or None for a valid result, program). {S} = sentinel dir,
# {F} = sentinel file, {K} = fake private key, {P} = test process pid, {PORT} = listening port.
HOSTILE = [
    ("infinite-loop", "timeout", "def transform(g):\n    while True:\n        pass\n"),
    ("loop-swallowing-everything", "timeout",
     "def transform(g):\n    while True:\n        try:\n            while True: pass\n        except BaseException:\n            pass\n"),
    ("deep-recursion", "exception", "def f(n):\n    return f(n + 1)\ndef transform(g):\n    return f(0)\n"),
    ("c-stack-overflow-crash", "exception",
     "def transform(g):\n    x = ()\n    for _ in range(5 * 10**5):  # enough to overflow an 8 MB C stack\n        x = (x,)\n    return hash(x)\n"),
    ("memory-bomb-list", "memory", "def transform(g):\n    x = [0] * (10**10)\n    return g\n"),
    ("memory-bomb-gradual", "memory",
     "def transform(g):\n    hog = []\n    while True:\n        hog.append(np.empty(200 * 2**20, dtype=np.uint8))\n"),
    ("memory-bomb-numpy", "memory", "def transform(g):\n    return np.ones((100000, 100000)).astype(int)\n"),
    ("fork-bomb", "unsafe", "import os\ndef transform(g):\n    while True:\n        os.fork()\n"),
    ("os-system", "unsafe", "import os\ndef transform(g):\n    os.system('touch {S}/pwned')\n    return g\n"),
    ("subprocess", "unsafe",
     "import subprocess\ndef transform(g):\n    subprocess.run(['sh', '-c', 'touch {S}/pwned'])\n    return g\n"),
    ("exec-shell", "unsafe", "import os\ndef transform(g):\n    os.execv('/bin/sh', ['sh', '-c', 'touch {S}/pwned'])\n"),
    ("posix-spawn", "unsafe", "import os\ndef transform(g):\n    os.posix_spawn('/bin/touch', ['touch', '{S}/pwned'], {{}})\n    return g\n"),
    ("read-etc-passwd", "unsafe", "def transform(g):\n    print(open('/etc/passwd').read())\n    return g\n"),
    ("read-ssh-key", "unsafe", "def transform(g):\n    print(open('{K}').read())\n    return g\n"),
    ("list-home", "unsafe", "import os\ndef transform(g):\n    print(os.listdir('/root'))\n    return g\n"),
    ("write-file-outside", "unsafe", "def transform(g):\n    open('{S}/pwned', 'w').write('x')\n    return g\n"),
    ("overwrite-sentinel", "unsafe", "def transform(g):\n    open('{F}', 'w').write('gone')\n    return g\n"),
    ("append-sentinel", "unsafe", "def transform(g):\n    open('{F}', 'a').write('more')\n    return g\n"),
    ("delete-sentinel", "unsafe", "import os\ndef transform(g):\n    os.remove('{F}')\n    return g\n"),
    ("rmtree-outside", "unsafe", "import shutil\ndef transform(g):\n    shutil.rmtree('{S}')\n    return g\n"),
    ("rename-sentinel", "unsafe", "import os\ndef transform(g):\n    os.rename('{F}', '{S}/moved')\n    return g\n"),
    ("chmod-sentinel", "unsafe", "import os\ndef transform(g):\n    os.chmod('{F}', 0o777)\n    return g\n"),
    ("symlink-outside", "unsafe", "import os\ndef transform(g):\n    os.symlink('/etc/passwd', '{S}/link')\n    return g\n"),
    ("socket-connect", "unsafe",
     "import socket\ndef transform(g):\n    s = socket.create_connection(('127.0.0.1', {PORT}), timeout=0.5)\n    s.sendall(b'leak')\n    return g\n"),
    ("socket-udp-dns", "unsafe",
     "import socket\ndef transform(g):\n    socket.getaddrinfo('example.com', 80)\n    return g\n"),
    ("raw-socket-syscall-via-os", "unsafe",
     "import _socket\ndef transform(g):\n    _socket.socket(2, 1).connect(('127.0.0.1', {PORT}))\n    return g\n"),
    ("ctypes-libc-system", "unsafe",
     "import ctypes\ndef transform(g):\n    ctypes.CDLL(None).system(b'touch {S}/pwned')\n    return g\n"),
    ("ctypes-segfault", "unsafe", "import ctypes\ndef transform(g):\n    ctypes.string_at(0)\n    return g\n"),
    ("signal-ignore-alarm", "timeout",
     "import signal\ndef transform(g):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True: pass\n"),
    ("signal-cancel-timer", "timeout",
     "import signal\ndef transform(g):\n    signal.setitimer(signal.ITIMER_REAL, 0)\n    signal.alarm(0)\n    while True: pass\n"),
    ("sys-exit", "exception", "import sys\ndef transform(g):\n    sys.exit(0)\n"),
    ("os-exit", "exception", "import os\ndef transform(g):\n    os._exit(0)\n"),
    ("kill-parent", "unsafe", "import os, signal\ndef transform(g):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return g\n"),
    ("kill-test-process", "unsafe", "import os, signal\ndef transform(g):\n    os.kill({P}, signal.SIGTERM)\n    return g\n"),
    ("kill-self", "unsafe", "import os, signal\ndef transform(g):\n    os.kill(os.getpid(), signal.SIGKILL)\n    return g\n"),
    ("huge-print", None, "def transform(g):\n    print('x' * 10**8)\n    return g\n"),
    ("raw-fd-write-flood", None, "import os\ndef transform(g):\n    os.write(1, b'x' * 10**7)\n    os.write(2, b'y' * 10**7)\n    return g\n"),
    ("print-forever", "timeout", "def transform(g):\n    while True:\n        print('spam' * 1000)\n"),
    ("patch-numpy", None, "def transform(g):\n    np.flipud = lambda a: a\n    return g\n"),
    ("patch-builtins", "unsafe", "import builtins\ndef transform(g):\n    builtins.len = lambda x: 0\n    builtins.range = None\n    return g\n"),
    ("patch-sys-modules", "exception", "import sys\ndef transform(g):\n    sys.modules['numpy'] = None\n    return g\n"),
    ("patch-common", None, "import common\ndef transform(g):\n    common.flood_fill = None\n    return g\n"),
    ("patch-common-class-attribute", None, "import common\ndef transform(g):\n    common.Color.RED = 5\n    return g\n"),
    ("patch-common-function-code", "unsafe",
     "import common\ndef evil(*a, **k):\n    return None\ndef transform(g):\n    common.crop.__code__ = evil.__code__\n    return g\n"),
    ("patch-environ", "unsafe", "import os\ndef transform(g):\n    os.environ['PYTHONPATH'] = '/evil'\n    return g\n"),
    ("return-generator", "invalid_output", "def transform(g):\n    while True:\n        yield g\n"),
    ("endless-generator-consumed", "timeout",
     "import itertools\ndef transform(g):\n    for _ in itertools.count():\n        pass\n"),
    ("pickle-bomb-result", "invalid_output",
     "import os\nclass Bomb:\n    def __reduce__(self):\n        return (os.system, ('touch {S}/pwned',))\ndef transform(g):\n    return Bomb()\n"),
    ("list-subclass-endless-iter", "invalid_output",
     "class L(list):\n    def __iter__(self):\n        while True:\n            yield [1]\ndef transform(g):\n    return L([[1]])\n"),
    ("ndarray-subclass", "invalid_output",
     "class A(np.ndarray):\n    def tolist(self):\n        raise SystemExit\ndef transform(g):\n    return np.zeros((2, 2), dtype=int).view(A)\n"),
    ("object-array", "invalid_output", "def transform(g):\n    return np.array([[1, 'x']], dtype=object)\n"),
    ("huge-grid", "invalid_output", "def transform(g):\n    return np.zeros((1000, 1000), dtype=int)\n"),
    ("threads", "unsafe", "import threading\ndef transform(g):\n    threading.Thread(target=print).start()\n    return g\n"),
    ("raise-rlimit", "unsafe", "import resource\ndef transform(g):\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n    return g\n"),
    ("steal-harness-frames", "unsafe",
     "import sys\ndef transform(g):\n    f = sys._getframe(1)\n    while f.f_back: f = f.f_back\n    return g\n"),
    ("signal-handler-frame-theft", "unsafe",
     "import signal\nstolen = []\ndef transform(g):\n    signal.signal(signal.SIGALRM, lambda s, f: stolen.append(f.f_back))\n"
     "    signal.setitimer(signal.ITIMER_REAL, 0.01)\n    while not stolen: pass\n    return g\n"),
    ("finalizer-after-return", None,
     "import sys\nclass Sneaky:\n    def __del__(self, getframe=sys._getframe):\n        getframe(1)\nkeep = Sneaky()\n"
     "def transform(g):\n    return g\n"),
    ("forge-result-frame", "unsafe",
     "import os, stat, struct\ndef transform(g):\n    msg = b'{{\"t\":\"x\",\"outputs\":[\"1x1:7\"],\"error\":null,\"detail\":\"\",\"stdout\":\"\"}}'\n"
     "    for fd in range(3, 64):\n        try:\n            m = os.fstat(fd).st_mode\n            if stat.S_ISSOCK(m) or stat.S_ISFIFO(m):\n                os.write(fd, struct.pack('!I', len(msg)) + msg)\n"
     "        except OSError:\n            pass\n    return g\n"),
    ("read-proc-of-parent", "exception",  # /proc is an empty tmpfs: FileNotFoundError
     "import os\ndef transform(g):\n    print(open(f'/proc/{{os.getppid()}}/environ').read())\n    return g\n"),
    # Reaching other processes: scheduling, priorities, limits (each succeeded before the audit).
    ("sched-setaffinity-parent", "unsafe",
     "import os\ndef transform(g):\n    os.sched_setaffinity(os.getppid(), {{0}})\n    return g\n"),
    ("sched-setaffinity-self", "unsafe", "import os\ndef transform(g):\n    os.sched_setaffinity(0, {{0}})\n    return g\n"),
    ("setpriority-parent", "unsafe",
     "import os\ndef transform(g):\n    os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)\n    return g\n"),
    ("setpriority-own-group", "unsafe",
     "import os\ndef transform(g):\n    os.setpriority(os.PRIO_PGRP, 0, os.getpriority(os.PRIO_PGRP, 0))\n    return g\n"),
    ("setpriority-user", "unsafe",
     "import os\ndef transform(g):\n    try:\n        os.setpriority(os.PRIO_USER, 54321, 19)\n    except ProcessLookupError:\n"
     "        pass\n    return g\n"),
    ("getpriority-user", "unsafe", "import os\ndef transform(g):\n    print(os.getpriority(os.PRIO_USER, 0))\n    return g\n"),
    ("sched-idle-parent", "unsafe",
     "import os\ndef transform(g):\n    os.sched_setscheduler(os.getppid(), os.SCHED_IDLE, os.sched_param(0))\n    return g\n"),
    ("sched-fifo-self", "unsafe",
     "import os\ndef transform(g):\n    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))\n    return g\n"),
    ("sched-getaffinity-of-parent", "unsafe",
     "import os\ndef transform(g):\n    print(os.sched_getaffinity(os.getppid()))\n    return g\n"),
    ("setsid", "unsafe", "import os\ndef transform(g):\n    os.setsid()\n    return g\n"),
    ("environ-tokens", None, "import os\ndef transform(g):\n    print(sorted(os.environ.items()))\n    return g\n"),
    ("self-affinity-and-limits-readable", None,
     "import os\ndef transform(g):\n    assert os.sched_getaffinity(0) and os.cpu_count()\n    return g\n"),
    ("close-result-channel-and-linger", "timeout",
     "import os, time\ndef transform(g):\n    os.closerange(3, 256)\n    time.sleep(100)\n"),
    ("close-result-channel-and-spin", "timeout",
     "import os\ndef transform(g):\n    os.closerange(3, 256)\n    while True: pass\n"),
    ("hostile-exception-str", "timeout",
     "class E(Exception):\n    def __str__(self):\n        while True: pass\ndef transform(g):\n    raise E()\n"),
]


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
    with Sandbox(workers=WORKERS, timeout_s=2.0, memory_mb=512, recycle_every=100, kill_grace_s=0.5) as sb:
        yield {"sb": sb, "dir": sentinel_dir, "file": sentinel, "key": key, "listener": listener,
               "before": before}
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
    src = src.format(S=env["dir"], F=env["file"], K=env["key"], P=os.getpid(),
                     PORT=env["listener"].getsockname()[1])
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
    assert sb.ready_workers() == WORKERS
    assert len(sb.pids()) == WORKERS + 1
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
        progs += [src.format(S=env["dir"], F=env["file"], K=env["key"], P=os.getpid(),
                             PORT=env["listener"].getsockname()[1]), FLIP]
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
    assert sb.ready_workers() == WORKERS
    assert time.perf_counter() - t0 < 30  # generous: recovery, not speed, is the point


@pytest.mark.timeout(120)
def test_disk_fill_is_capped_per_program_and_never_accumulates():
    """Many files of 1 MB per program: at most `disk_mb` in total, and nothing left for the next."""
    filler = ("import os\ndef transform(g):\n    before = len(os.listdir('.'))\n    total = 0\n"
              "    for i in range(40):\n        try:\n            with open(f'f{i}.bin', 'wb') as f:\n"
              "                f.write(b'x' * 2**20)\n            total += 2**20\n"
              "        except OSError:\n            break\n    print(before, total // 2**20)\n    return g\n")
    with Sandbox(workers=1, timeout_s=5.0, disk_mb=16) as sb:
        assert "tmpfs of 16 MB" in sb.protections()["disk"]
        res = sb.run_many([filler + f"# {k}\n" for k in range(5)], [[GRID]] * 5)
        for r in res:
            assert r.error is None, r.detail
            left_before, written = map(int, r.stdout.split("\n")[0].split())
            assert left_before == 0          # the previous program's files are gone
            assert 8 <= written <= 16        # capped by the tmpfs, every time (so it was emptied)
