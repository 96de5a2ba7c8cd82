"""Degraded modes: without Landlock (seccomp alone confines files) and without libseccomp
(the built-in BPF filter). Both still stop the escapes and report what is active."""

import os
import platform

import pytest

from trainer.sandbox import Sandbox, bpf, seccomp

GRID = [[1, 2], [3, 4]]


def _run(env_over, programs):
    old = {k: os.environ.get(k) for k in env_over}
    os.environ.update(env_over)
    try:
        with Sandbox(workers=1, timeout_s=2.0, memory_mb=256) as sb:
            return sb.protections(), sb.run_many(programs, [[GRID]] * len(programs))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


ESCAPES = [
    ("import os\ndef transform(g):\n    os.fork()\n    return g\n", "unsafe"),
    ("import _socket\ndef transform(g):\n    _socket.socket(2, 1)\n    return g\n", "unsafe"),
    ("import os\ndef transform(g):\n    os.execv('/bin/true', ['true'])\n", "unsafe"),
    ("def transform(g):\n    open('{p}', 'w').write('x')\n    return g\n", "unsafe"),
    ("import os\ndef transform(g):\n    os.remove('{keep}')\n    return g\n", "unsafe"),
    ("import os\ndef transform(g):\n    os.mkdir('{p}.d')\n    return g\n", "unsafe"),
    ("def transform(g):\n    return np.flipud(g)\n", None),
]


@pytest.mark.parametrize(
    "env",
    [
        {"ARCCTL_SANDBOX_LANDLOCK": "0"},
        {"ARCCTL_SANDBOX_SECCOMP": "builtin"},
        {"ARCCTL_SANDBOX_LANDLOCK": "0", "ARCCTL_SANDBOX_SECCOMP": "builtin"},
    ],
    ids=["no-landlock", "builtin-bpf", "both"],
)
@pytest.mark.skipif(platform.machine() != "x86_64", reason="built-in BPF table is x86_64 only")
def test_degraded_modes_still_confine(env, tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("k")
    progs = [src.format(p=tmp_path / "new.txt", keep=keep) for src, _ in ESCAPES]
    prot, res = _run(env, progs)
    if env.get("ARCCTL_SANDBOX_LANDLOCK") == "0":
        assert prot["landlock"] is False and "all file writes" in prot["seccomp"]
    if env.get("ARCCTL_SANDBOX_SECCOMP") == "builtin":
        assert "built-in BPF" in prot["seccomp"]
    assert [r.error for r in res] == [k for _, k in ESCAPES], [r.detail for r in res]
    assert res[-1].outputs == [[[3, 4], [1, 2]]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.skipif(seccomp._load_lib() is None, reason="libseccomp not installed")
def test_builtin_syscall_table_matches_libseccomp():
    import ctypes

    lib = seccomp._load_lib()
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    known = 0
    for name, nr in bpf.X86_64.items():
        got = lib.seccomp_syscall_resolve_name_arch(bpf.AUDIT_ARCH_X86_64, name.encode())
        # Names newer than the installed libseccomp are unknown to it (-1): the table supplies them.
        assert got == nr or got < 0, (name, nr, got)
        known += got == nr
    assert known > 150


def test_no_token_readable_from_any_process_even_without_landlock():
    """Without Landlock, /proc would show every same-user process's exec-time environment (a
    trainer's tokens): the program's own, and that of any process on the host. Neither may hold
    a token: the zygote starts with a minimal environment and hides /proc."""
    import subprocess
    import sys

    secret = "TOPSECRET-env-4b1d"
    owner = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={"HF_TOKEN": secret, "PATH": os.environ.get("PATH", "")},
    )
    try:
        prog = (
            "import os\ndef transform(g):\n"
            f"    for path in ('/proc/self/environ', '/proc/{owner.pid}/environ'):\n"
            "        try:\n            print(open(path).read())\n"
            "        except OSError as e:\n            print(path, type(e).__name__)\n"
            "    print(dict(os.environ))\n    return g\n"
        )
        over = {"ARCCTL_SANDBOX_LANDLOCK": "0", "HF_TOKEN": secret, "WANDB_API_KEY": secret}
        prot, res = _run(over, [prog])
    finally:
        owner.kill()
        owner.wait()
    assert prot["landlock"] is False and prot["proc"].startswith("hidden")
    assert res[0].error is None, res[0].detail
    assert f"/proc/{owner.pid}/environ FileNotFoundError" in res[0].stdout
    assert secret not in res[0].stdout


FILLER = (
    "import os\ndef transform(g):\n    before = len(os.listdir('.'))\n    total = 0\n"
    "    for i in range({n}):\n        with open(f'f{{i}}.bin', 'wb') as f:\n"
    "            f.write(b'x' * {size})\n        total += {size}\n"
    "    print(before, total // 2**20)\n    return g\n"
)


@pytest.mark.timeout(120)
def test_without_a_mount_namespace_files_are_still_capped_and_wiped(monkeypatch):
    """No tmpfs can be mounted (as on hosts that refuse unprivileged namespaces): the worker
    measures the program's files while it runs and kills it past `disk_mb`; many empty files
    count too; the next program starts in an empty temp dir."""
    monkeypatch.setenv("ARCCTL_SANDBOX_NAMESPACES", "0")
    big = FILLER.format(n=200, size=2**20)  # 200 MB in 1 MB files, 8 MB allowed
    many = FILLER.format(n=100_000, size=0)  # empty files
    small = FILLER.format(n=3, size=2**20)
    with Sandbox(workers=1, timeout_s=20.0, disk_mb=8) as sb:
        prot = sb.protections()
        assert "no mount namespace" in prot["disk"] and prot["netns"] is False
        res = sb.run_many([big, small, many, small], [[GRID]] * 4)
    assert [r.error for r in res] == ["unsafe", None, "unsafe", None], [r.detail for r in res]
    assert "more than 8 MB of files" in res[0].detail and "more than 8 MB of files" in res[2].detail
    for r in (res[1], res[3]):
        left_before, written = map(int, r.stdout.split("\n")[0].split())
        assert (left_before, written) == (0, 3)  # the killed program's files are gone
