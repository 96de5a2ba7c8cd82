"""The cheaper forms of the fast path's per-program work still see what the full forms saw: the
integrity check that skips namespaces whose dict version tag has not moved, the verifier's walk
that skips leaf fields, and the parent's cache of encoded input grids."""

import ast
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.sandbox.test_fast_path import base_globals
from trainer import program_library
from trainer.sandbox import dictversion, purity
from trainer.sandbox.batch import EncodedInputs, encode_input
from trainer.sandbox.inline import Integrity

TAGS = dictversion.reader(vars(math)) is not None
needs_tags = pytest.mark.skipif(not TAGS, reason="dict version tags not readable on this interpreter")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@needs_tags
def test_the_version_tag_moves_on_every_change_of_a_dict():
    d = {"a": 1, "b": 2}
    tag = dictversion.reader(d)
    seen = {tag.value}
    for change in (lambda: d.__setitem__("a", object()), lambda: d.pop("b"), lambda: d.update(c=3), d.clear):
        change()
        assert tag.value not in seen
        seen.add(tag.value)
    _ = d.get("c"), len(d), list(d)  # reads: no change
    assert tag.value in seen


@pytest.mark.parametrize("tags", [pytest.param(True, marks=needs_tags, id="tags"), pytest.param(False, id="no-tags")])
def test_integrity_sees_a_changed_list_or_module_entry(tags, monkeypatch):
    """With version tags, a namespace whose tag did not move is skipped; without them every entry is
    compared. Either way every change of a reachable entry is caught, and nothing else."""
    if not tags:
        monkeypatch.setattr(dictversion, "_OK", False)
    check = Integrity({"numpy": np, "math": math}, base_globals(), {"len": len})
    if tags:
        assert all(tag is not None for d, *_, tag in check.namespaces if type(d) is dict)
    else:
        assert all(tag is None for *_, tag in check.namespaces)
    assert check.intact()
    # A change that leaves every entry a program reaches as it was: passes (with tags, the new tag
    # is remembered); the next replacement of a reachable entry is caught all the same.
    math._arcctl_probe = 1
    del math._arcctl_probe
    assert check.intact()
    program_library.Color.NOT_BLACK.append(0)
    try:
        assert not check.intact()
        assert not check.intact()  # and again: a failed check remembers nothing
    finally:
        program_library.Color.NOT_BLACK.pop()
    assert check.intact()
    for name, fake in (("floor", lambda x: 0), ("pi", 3.0), ("flip", np.flipud)):
        mod = math if hasattr(math, name) else np
        real = getattr(mod, name)
        setattr(mod, name, fake)
        try:
            assert not check.intact(), name
            assert not check.intact(), name
        finally:
            setattr(mod, name, real)
        assert check.intact()


PROGRAM = '''
import numpy as np
from typing import List
def transform(g: np.ndarray, k: int = -1, *a, s=("x", b"y"), **kw) -> List[int]:
    """doc"""
    try:
        h = {i: [j for j in range(i) if j % 2] for i in (1, 2)}
        x = lambda q, *r: q if not q else -q
        g[0, 0] += sum((v for v in h), start=0) or x(1) and 2 < 3 <= 4
        del h[1]
        for i, (u, w) in enumerate(zip(g, g)):
            while u.any():
                break
            else:
                continue
        assert g is not None, "m"
        return [*g, {**kw}, {1, 2}, f"{k!r:>3}", (y := 2), g[1:2, ::3], not k]
    except (ValueError, KeyError) as e:
        raise RuntimeError() from e
    finally:
        pass
'''


def test_the_walk_visits_every_node_that_ast_walk_does():
    tree = ast.parse(PROGRAM)
    leaves = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)
    want = [n for n in ast.walk(tree) if not isinstance(n, leaves)]
    got = list(purity._nodes(tree))
    assert sorted(map(id, got)) == sorted(map(id, want))
    assert len(got) == len(want)


def test_encoded_inputs_are_cached_by_dtype_shape_and_bytes():
    cache = EncodedInputs()
    a = np.array([[1, 2], [3, 4]])
    assert cache.encode(a, 0, 0) == encode_input(a, 0, 0) == "2x2:1234"
    assert cache.encode(a.reshape(1, 4), 0, 0) == "1x4:1234"  # same bytes, other shape
    assert cache.encode(a.astype(np.uint8), 0, 0) == "2x2:1234"
    assert cache.encode([[5]], 0, 0) == "1x1:5"
    b = a.copy()
    b[0, 0] = 9
    assert cache.encode(b, 0, 0) == "2x2:9234"
    assert len(cache.by_content) == 4  # lists are not cached
    for bad in (np.array([[1, 10]]), np.array([[-1]]), np.array([[256]]), np.array([1, 2]), np.array([["1"]])):
        with pytest.raises(ValueError, match=r"inputs\[3\]\[1\]"):
            cache.encode(bad, 3, 1)
        with pytest.raises(ValueError):
            cache.encode(bad, 3, 1)  # not cached either


def test_the_input_cache_is_bounded():
    cache = EncodedInputs()
    for v in range(EncodedInputs.MAX_GRIDS + 10):
        cache.encode(np.array([[v % 10, v // 10 % 10, v // 100 % 10, v // 1000 % 10]]), 0, 0)
    assert len(cache.by_content) <= EncodedInputs.MAX_GRIDS


def test_tags_are_used_where_this_suite_runs():
    # CPython 3.8-3.13 with the GIL (what the project supports): the skip above must not hide
    # that the cheap form is off.
    if sys.implementation.name == "cpython" and (3, 8) <= sys.version_info[:2] <= (3, 13):
        assert TAGS


# `heap.Retention` probes the address space again only after a page fault or more memory taken
# by malloc. Here the live heap shrinks (objects held at the start are freed) while a few live
# objects pin ~100 MB of arenas, and malloc's own figures are made to show no growth: a probe gated
# on live-heap growth, or on malloc's figures alone, would miss it; the page faults may not.
PINS_WHILE_SHRINKING = """
import resource
from trainer.sandbox import heap
from trainer.sandbox.isolation import vm_size_bytes
resource.setrlimit(resource.RLIMIT_AS, (vm_size_bytes() + 400 * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
ballast = [(None, i) for i in range(3 * 10**5)]
check = heap.Retention(32 * 2**20)
assert not check.exceeded()
probes = check.probes
assert not check.exceeded() and check.probes == probes  # nothing mapped since: no probe
measure, system = heap._measure, heap._measure()[1]
heap._measure = lambda: (measure()[0], system)
del ballast
junk = [(None, None, i & 1) for i in range(2 * 10**6)]
keep = junk[::8000]
del junk
print(heap.live_bytes() < check.base, check.exceeded())
"""


@pytest.mark.timeout(60)
def test_retention_probes_again_after_arenas_were_mapped_even_if_the_live_heap_shrank():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", PINS_WHILE_SHRINKING], env=env, capture_output=True, text=True, timeout=50
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"]
