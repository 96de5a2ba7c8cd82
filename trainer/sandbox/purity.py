"""Allow-list verifier: may a program run inside the worker itself instead of a fresh process?

A program is admitted only when its source shows that it cannot reach anything it shares with
later programs, except a few containers that the worker checks after every program
(`inline.Integrity`). What makes that provable from the syntax alone:
  * every name it reads resolves to its own variables or to an allowed builtin / global
    (numpy, the helper library's functions and `Color`, typing aliases), never to something
    else that the real globals or builtins would supply (`open`, `getattr`, `type`, ...);
  * every attribute it reads is in `ATTRS` (no dunders, no frame, code or buffer attributes,
    nothing that changes numpy's or Python's global settings), and it never stores or deletes
    an attribute; item stores only go into containers named by a variable;
  * it imports only `MODULES`, defines no classes, decorators, generators or coroutines (no
    program code can run later, from a finaliser), has no `global`/`nonlocal`/`with`/`match`,
    and catches only named `Exception` subclasses (the timeout, a BaseException, gets through).
Everything else runs as before, in a process of its own. Unparsable source is admitted: nothing
of it runs (the runner reports the syntax error).
"""

from __future__ import annotations

import ast
import builtins

# Modules a program may import (all preloaded by the zygote; no import machinery runs).
MODULES = frozenset(
    {
        "numpy",
        "numpy.random",
        "numpy.linalg",
        "math",
        "itertools",
        "collections",
        "functools",
        "copy",
        "heapq",
        "typing",
        "random",
        "common",
    }
)
# Modules whose names `from M import *` may bind (the program's globals already hold them).
STAR_MODULES = frozenset({"common", "typing"})

BUILTINS = frozenset(
    """abs all any bin bool bytes callable chr complex dict divmod enumerate filter float frozenset
    hex int isinstance issubclass iter len list map max min next oct ord pow print range reversed
    round set slice sorted str sum tuple zip bytearray""".split()
)
# Exception classes a program may name (in handlers and elsewhere). No BaseException, no
# KeyboardInterrupt/SystemExit/GeneratorExit: the timeout must get through every handler.
EXCEPTIONS = frozenset(
    """ArithmeticError AssertionError AttributeError Exception IndexError KeyError LookupError
    NameError NotImplementedError OverflowError RuntimeError StopIteration TypeError
    UnboundLocalError ValueError ZeroDivisionError""".split()
)
TYPING = frozenset(
    """Any List Dict Tuple Set FrozenSet Optional Union Callable Iterable Iterator Sequence
    Mapping DefaultDict Deque cast""".split()
)
# The helper library's exports (trainer/program_library.py): plain functions of their arguments
# (`blit*`/`flood_fill` write into the grid passed in), frozen dataclasses and `Color`.
COMMON = frozenset(
    """Color flood_fill draw_line find_connected_components detect_objects bounding_box
    bounding_box_mask crop object_position object_colors blit blit_sprite blit_object translate
    collision contact is_contiguous object_interior object_boundary object_neighbors scale_sprite
    scale_pattern downscale neighbors detect_mirror_symmetry_axes tile detect_background_color
    MirrorSymmetry RotationalSymmetry TranslationalSymmetry detect_mirror_symmetry
    detect_rotational_symmetry detect_translational_symmetry orbit show_colored_grid""".split()
)

# Attribute names, whatever the object: one list, since the type of an object is not known from
# the source. None of them lets a program reach interpreter state or change a shared setting.
_NUMPY = """
array asarray asanyarray ascontiguousarray zeros zeros_like ones ones_like full full_like empty
empty_like eye identity arange linspace indices meshgrid diag diagonal tri triu tril fromfunction
copy reshape ravel flatten transpose swapaxes moveaxis expand_dims squeeze concatenate stack
vstack hstack dstack column_stack split array_split hsplit vsplit tile repeat flip fliplr flipud
rot90 roll pad delete insert append unique trim_zeros block atleast_1d atleast_2d broadcast_to
kron outer where nonzero argwhere flatnonzero count_nonzero isin all any array_equal array_equiv
allclose isclose logical_and logical_or logical_not logical_xor equal not_equal greater less
greater_equal less_equal isnan isinf isfinite sum prod cumsum cumprod diff max min amax amin
maximum minimum argmax argmin mean median std var abs absolute sign sqrt square power exp log
log2 floor ceil round around rint clip dot matmul einsum add subtract multiply divide
floor_divide mod remainder true_divide negative bitwise_and bitwise_or bitwise_xor bitwise_not
invert left_shift right_shift gcd lcm bincount histogram sort argsort lexsort searchsorted
partition argpartition ptp cross trace percentile quantile average nanmax nanmin hypot arctan2
sin cos pi e inf nan newaxis unravel_index ravel_multi_index take take_along_axis
put_along_axis put place putmask copyto fill_diagonal select choose apply_along_axis vectorize
ndindex ndenumerate iinfo finfo shape ndim size dtype ndarray integer int8 int16 int32 int64
uint8 uint16 uint32 uint64 float16 float32 float64 bool_ int_ intp floating number generic
issubdtype result_type convolve correlate digitize interp
linalg det inv norm matrix_rank solve lstsq pinv matrix_power
random rand randn randint choice shuffle permutation seed random_sample uniform normal
default_rng integers
"""
_ARRAY = """T astype tolist item fill resize nbytes itemsize kind name type reduce accumulate
outer at reduceat eps bits"""
_PYTHON = """
append extend insert remove pop clear index count sort reverse keys values items get setdefault
update popitem fromkeys add discard union intersection difference symmetric_difference issubset
issuperset isdisjoint intersection_update difference_update symmetric_difference_update join
split rsplit strip lstrip rstrip replace startswith endswith upper lower isdigit isalpha
isalnum find rfind splitlines zfill center ljust rjust title capitalize isspace isupper islower
isnumeric rpartition bit_length is_integer real imag conjugate numerator denominator
appendleft popleft extendleft rotate maxlen most_common elements subtract total
sqrt isqrt comb perm factorial log10 trunc fsum fabs fmod modf copysign dist tau radians
degrees tan atan2 isinf isnan
product permutations combinations combinations_with_replacement chain from_iterable groupby
accumulate cycle islice starmap takewhile dropwhile zip_longest compress tee pairwise filterfalse
Counter deque defaultdict OrderedDict namedtuple
reduce partial lru_cache cache cmp_to_key
heappush heappop heapify heappushpop heapreplace nlargest nsmallest merge
deepcopy randrange choices sample gauss Random
"""
_COMMON_MEMBERS = """BLACK BLUE RED GREEN YELLOW GRAY GREY PINK ORANGE PURPLE TEAL BROWN MAROON
TRANSPARENT BACKGROUND ALL_COLORS NOT_BLACK apply mirror_x mirror_y center_x center_y
translate_x translate_y"""
ATTRS = frozenset((_NUMPY + _ARRAY + _PYTHON + _COMMON_MEMBERS).split()) | COMMON | TYPING

_REJECT = {
    ast.ClassDef: "class definition",
    ast.AsyncFunctionDef: "coroutine",
    ast.Await: "await",
    ast.AsyncFor: "async for",
    ast.AsyncWith: "async with",
    ast.Yield: "generator",
    ast.YieldFrom: "generator",
    ast.Global: "global statement",
    ast.Nonlocal: "nonlocal statement",
    ast.With: "with statement",
    ast.Match: "match statement",
}
if hasattr(ast, "TryStar"):
    _REJECT[ast.TryStar] = "except*"


class Verifier:
    """Built once per worker from the globals a program gets; `check(src)` per program."""

    def __init__(self, base_globals: dict, common_ok: bool):
        allowed = set(BUILTINS | EXCEPTIONS | TYPING | {"np", "numpy"})
        if common_ok:
            allowed |= COMMON | {"common"}
        self.allowed = frozenset(allowed)
        self.modules = MODULES if common_ok else MODULES - {"common"}
        self.star = STAR_MODULES if common_ok else STAR_MODULES - {"common"}
        # A global read of one of these would reach an object the program may not have: reading
        # it is refused even where the program also binds the name (that binding may not run).
        self.unsafe_globals = frozenset((set(base_globals) | set(dir(builtins))) - allowed)

    def check(self, src: str) -> tuple[bool, str, bool]:
        """(admitted, why not, mentions `random`). Unparsable source is admitted (nothing runs)."""
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
            return True, "", False
        try:
            w = _Walk(self)
            w.scope(tree.body, None, [])
        except _Refused as e:
            return False, str(e), False
        except RecursionError:
            return False, "too deeply nested", False
        return True, "", w.random


class _Refused(Exception):
    pass


class _Walk:
    def __init__(self, v: Verifier):
        self.v = v
        self.random = False  # any identifier `random`: the global generators are reset after it
        self.caught: set[str] = set()  # exception names in handlers: must never be rebound
        self.bound_anywhere: set[str] = set()

    # ----- scopes --------------------------------------------------------------------------
    def scope(self, body, args: ast.arguments | None, outer: list[set]) -> None:
        """A module or function body: its local names, then every statement in it."""
        local = _bound(body) | (_arg_names(args) if args else set())
        self.bound_anywhere |= local
        stack = outer + [local] if args is not None else []
        for node in body:
            self.visit(node, stack)
        if self.caught & self.bound_anywhere:
            raise _Refused(f"rebinds exception name {sorted(self.caught & self.bound_anywhere)[0]}")

    def visit(self, node, stack: list[set]) -> None:
        kind = _REJECT.get(type(node))
        if kind:
            raise _Refused(kind)
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            return self.function(node, stack)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self.comprehension(node, stack)
        if isinstance(node, ast.Name):
            self.name(node.id, node.ctx, stack)
        elif isinstance(node, ast.Attribute):
            if not isinstance(node.ctx, ast.Load):
                raise _Refused(f"attribute store .{node.attr}")
            self.attr(node.attr)
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            base = node.value
            while isinstance(base, ast.Subscript):
                base = base.value
            if not isinstance(base, ast.Name):
                raise _Refused("item store into something not held by a variable")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imports(node)
        elif isinstance(node, ast.ExceptHandler):
            self.handler(node)
        elif isinstance(node, ast.arg) and node.arg.startswith("__"):
            raise _Refused(f"name {node.arg}")
        elif isinstance(node, ast.keyword) and node.arg and node.arg.startswith("__"):
            raise _Refused(f"keyword {node.arg}")
        for child in ast.iter_child_nodes(node):
            self.visit(child, stack)

    def function(self, node, stack: list[set]) -> None:
        if isinstance(node, ast.FunctionDef):
            if node.decorator_list:
                raise _Refused("decorator")
            if node.name.startswith("__"):
                raise _Refused(f"name {node.name}")
            for ann in [node.returns] + [a.annotation for a in _all_args(node.args)]:
                if ann is not None:
                    self.visit(ann, stack)
        # Defaults are evaluated where the function is defined.
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(d, stack)
        for a in _all_args(node.args):
            if a.arg.startswith("__"):
                raise _Refused(f"name {a.arg}")
        body = node.body if isinstance(node, ast.FunctionDef) else [ast.Expr(node.body)]
        self.scope(body, node.args, stack)

    def comprehension(self, node, stack: list[set]) -> None:
        gens = node.generators
        if any(g.is_async for g in gens):
            raise _Refused("async comprehension")
        self.visit(gens[0].iter, stack)  # evaluated in the enclosing scope
        local = set()
        for g in gens:
            local |= _target_names(g.target)
        self.bound_anywhere |= local
        inner = stack + [local]
        for i, g in enumerate(gens):
            self.visit(g.target, inner)
            if i:
                self.visit(g.iter, inner)
            for cond in g.ifs:
                self.visit(cond, inner)
        for part in ("elt", "key", "value"):
            sub = getattr(node, part, None)
            if sub is not None:
                self.visit(sub, inner)

    # ----- leaves ---------------------------------------------------------------------------
    def name(self, ident: str, ctx, stack: list[set]) -> None:
        if ident.startswith("__"):
            raise _Refused(f"name {ident}")
        if ident == "random":
            self.random = True
        if not isinstance(ctx, ast.Load):
            return
        if any(ident in scope for scope in stack):
            return  # a local or closure variable of an enclosing function: never a global read
        if ident in self.v.unsafe_globals:
            raise _Refused(f"name {ident}")

    def attr(self, ident: str) -> None:
        if ident not in ATTRS:
            raise _Refused(f"attribute .{ident}")
        if ident == "random":
            self.random = True

    def imports(self, node) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name not in self.v.modules:
                    raise _Refused(f"import {a.name}")
                if a.name.startswith("numpy.") and a.asname is None:
                    continue  # binds `numpy`
                self._import_name(a.asname or a.name)
                if "random" in a.name:
                    self.random = True
            return
        mod = node.module or ""
        if node.level or mod not in self.v.modules:
            raise _Refused(f"import from {mod or '.'}")
        if "random" in mod:
            self.random = True
        for a in node.names:
            if a.name == "*":
                if mod not in self.v.star:
                    raise _Refused(f"from {mod} import *")
                continue
            allowed = self.v.allowed if mod in ("common", "typing") else ATTRS
            if a.name not in allowed:
                raise _Refused(f"from {mod} import {a.name}")
            if a.name == "random":
                self.random = True
            self._import_name(a.asname or a.name)

    def _import_name(self, ident: str) -> None:
        if ident.startswith("__"):
            raise _Refused(f"name {ident}")

    def handler(self, node: ast.ExceptHandler) -> None:
        t = node.type
        names = t.elts if isinstance(t, ast.Tuple) else [t]
        for n in names:
            if not (isinstance(n, ast.Name) and n.id in EXCEPTIONS):
                raise _Refused("except clause that is not a named Exception subclass")
            self.caught.add(n.id)
        if node.name and node.name.startswith("__"):
            raise _Refused(f"name {node.name}")


def _all_args(args: ast.arguments) -> list[ast.arg]:
    out = args.posonlyargs + args.args + args.kwonlyargs
    return out + [a for a in (args.vararg, args.kwarg) if a is not None]


def _arg_names(args: ast.arguments) -> set[str]:
    return {a.arg for a in _all_args(args)}


def _target_names(t) -> set[str]:
    return {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}


def _bound(body) -> set[str]:
    """Names bound by the statements of one scope: nested function and lambda bodies excluded,
    a comprehension's own targets excluded (its locals), walrus targets in comprehensions kept."""
    out: set[str] = set()
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for g in node.generators:
                todo.append(g.iter)
                todo.extend(g.ifs)
            todo.extend(getattr(node, part) for part in ("elt", "key", "value") if hasattr(node, part))
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            out.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    out.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return out
