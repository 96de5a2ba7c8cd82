"""A deny list by syscall number is only sound for the numbers it was written for.

x86_64 Linux takes two other syscall tables from a 64-bit process: the x32 ABI (numbers with bit
0x40000000 set, e.g. 0x40000000 + 39 is getpid) and the i386 ABI through `int 0x80` (getpid is
20 there, and 20 is writev in the x86_64 table). A filter that only compared numbers would let a
program reach every refused call through them. Both filters (libseccomp's and the built-in BPF)
must kill the process instead; these tests make the calls from a forked child that loaded the
real worker and program filters, as a program's process does.
"""

import ctypes
import mmap
import os
import platform
import signal

import pytest

from trainer.sandbox import seccomp
from trainer.sandbox.zygote import compile_filters

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 ABIs")

X32_GETPID = 0x40000000 + 39
# mov eax, 20 (i386 getpid); int 0x80; ret  -- returns the pid in eax
I386_GETPID = b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"


def _i386_getpid():
    """A callable that makes getpid through the i386 ABI (code in an executable page)."""
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(I386_GETPID)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return page, ctypes.CFUNCTYPE(ctypes.c_int)(address)


def _x32_getpid():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return lambda: libc.syscall(ctypes.c_long(X32_GETPID))


def _in_child(filters: list[bytes], call) -> tuple[int | None, int | None]:
    """Fork, load `filters`, make `call`; (value it returned or None, signal that ended the child)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            for f in filters:
                seccomp.load_filter(f)
            os.write(w, str(call()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return (int(data) if data else None), (os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)


@pytest.fixture(scope="module", params=["libseccomp", "builtin"])
def filters(request):
    if request.param == "libseccomp" and seccomp._load_lib() is None:
        pytest.skip("libseccomp not installed")
    bpfs, desc = compile_filters(confine_files=False, builtin=request.param == "builtin")
    assert bpfs, desc
    return [bpfs["worker"], bpfs["program"]]


@pytest.mark.parametrize("make_call", [_x32_getpid, _i386_getpid], ids=["x32", "i386"])
def test_a_foreign_syscall_table_kills_the_program(filters, make_call):
    made = make_call()
    call = made[1] if isinstance(made, tuple) else made
    # The filter sees the call before the kernel looks up its table, so the process dies even
    # where this kernel would answer ENOSYS (x32 is often compiled out). Unfiltered, the call
    # must return normally, or the test proves nothing about the filter.
    value, sig = _in_child([], call)
    assert value is not None and sig is None
    value, sig = _in_child(filters, call)
    assert (value, sig) == (None, signal.SIGSYS)
