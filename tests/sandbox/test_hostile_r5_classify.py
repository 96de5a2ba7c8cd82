"""Round 5: the error kind is the sandbox's finding, not the program's claim. A program's exception
used to be classified through objects the program controls (`isinstance`, which asks the object's
`__class__`; a metaclass's `mro()`; `__cause__`/`__context__`/`__traceback__`, which a subclass can
make properties; the builtins' names, which a forked program can rebind), and `timeout`/`unsafe`
followed exception classes any forked program can reach and raise itself."""

import pytest

from trainer.sandbox import Sandbox

GRID = [[1, 2, 3], [4, 5, 6]]


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=1, timeout_s=2.0, memory_mb=512) as sb:
        yield sb


CLAIMS = {
    "class-property": """
class E(Exception):
    @property
    def __class__(self):
        return MemoryError
def transform(g):
    raise E("boom")
""",
    "metaclass-mro": """
class M(type):
    def mro(cls):
        return (cls, MemoryError, Exception, BaseException, object)
class E(Exception, metaclass=M):
    pass
def transform(g):
    raise E("boom")
""",
    "context-property": """
class E(Exception):
    __context__ = property(lambda self: PermissionError("refused"))
def transform(g):
    raise E("boom")
""",
    "rebound-builtin": """
import builtins
def transform(g):
    builtins.MemoryError = ValueError
    builtins.PermissionError = ValueError
    raise ValueError("boom")
""",
    "harness-timeout": """
import sys
def transform(g):
    raise sys.modules["trainer.sandbox.runner"].ProgramTimeout("boom")
""",
    "harness-unsafe": """
import sys
def transform(g):
    raise sys.modules["trainer.sandbox.runner"].UnsafeOperation("boom")
""",
    "thread-text-forked": """
import sys
def transform(g):
    raise RuntimeError("can't start new thread")
""",
    # Admitted by the verifier: the same text used to recycle a fast-path worker as unsafe.
    "thread-text-fast": """
def transform(g):
    raise RuntimeError("can't start new thread")
""",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(CLAIMS))
def test_an_exception_cannot_claim_another_kind(sb, name):
    r = sb.run_one(CLAIMS[name], [GRID])
    assert r.error == "exception", (name, r.detail)
    assert "boom" in r.detail or "thread" in r.detail


@pytest.mark.timeout(60)
def test_a_forged_timeout_from_a_forked_program_is_tampering(sb):
    # A forked program owns its process and can replace the harness's classification; a timeout
    # is the worker's finding (it kills the child), so a child that reports one forged it.
    src = """
import sys
sys.modules["trainer.sandbox.runner"].classify = lambda e: {"outputs": None, "error": "timeout", "detail": "forged"}
def transform(g):
    raise ValueError("boom")
"""
    r = sb.run_one(src, [GRID])
    assert (r.error, r.detail) == ("unsafe", "tampered with the result channel")


HOSTILE_TEXT = """
import ctypes
class E(Exception):
    def __str__(self):
        ctypes.CDLL(None)
        return "hidden"
def transform(g):
    raise E()
"""

TRACEBACK_PROPERTY = """
class E(Exception):
    @property
    def __traceback__(self):
        raise KeyError("the harness read a property of the program")
def transform(g):
    raise E("boom")
"""


@pytest.mark.timeout(60)
def test_what_the_text_of_an_exception_attempts_is_still_watched(sb):
    r = sb.run_one(HOSTILE_TEXT, [GRID])
    assert (r.error, r.detail) == ("unsafe", "forbidden operation attempted: ctypes.dlopen")


@pytest.mark.timeout(60)
def test_the_traceback_is_read_from_the_exception_not_from_its_class(sb):
    r = sb.run_one(TRACEBACK_PROPERTY, [GRID])
    assert r.error == "exception"
    assert r.detail.startswith("E: boom (line ")


REAL = {
    "memory": ("def transform(g):\n    return [0] * (10**10)\n", "memory"),
    "memory-in-context": (
        "def transform(g):\n    try:\n        x = [0] * (10**10)\n    except MemoryError:\n"
        "        raise ValueError('no room')\n",
        "memory",
    ),
    "landlock": ("def transform(g):\n    open('/etc/shadow').read()\n", "unsafe"),
    # The refusal stays the finding when the program raises something else from another cause.
    "landlock-behind-a-cause": (
        "def transform(g):\n    try:\n        open('/etc/shadow').read()\n    except OSError:\n"
        "        raise ValueError('boom') from KeyError('other')\n",
        "unsafe",
    ),
    "thread": ("import threading\ndef transform(g):\n    threading.Thread(target=len, args=((),)).start()\n", "unsafe"),
    "thread-pool": (
        "from concurrent.futures import ThreadPoolExecutor\ndef transform(g):\n"
        "    ThreadPoolExecutor(2).submit(len, ()).result()\n",
        "unsafe",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(REAL))
def test_real_failures_keep_their_kind(sb, name):
    src, kind = REAL[name]
    r = sb.run_one(src, [GRID])
    assert r.error == kind, (name, r.detail)
