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
from typing import NamedTuple

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

# No `bytes`/`bytearray` (nor bytes literals, nor the `align=` of structured dtypes): they read an
# array's raw memory, and the padding of a structured array is left uninitialised.
BUILTINS = frozenset(
    """abs all any bin bool callable complex dict divmod enumerate filter float frozenset
    hex int isinstance issubclass iter len list map max min next oct ord pow print range reversed
    round set slice sorted str sum tuple zip""".split()
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
array asarray asanyarray ascontiguousarray zeros zeros_like ones ones_like full full_like eye identity arange linspace indices meshgrid diag diagonal tri triu tril fromfunction
copy reshape ravel flatten transpose swapaxes moveaxis expand_dims squeeze concatenate stack
vstack hstack dstack column_stack split array_split hsplit vsplit tile repeat flip fliplr flipud
rot90 roll delete insert append unique trim_zeros block atleast_1d atleast_2d broadcast_to
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
ndindex ndenumerate iinfo finfo shape ndim size dtype integer int8 int16 int32 int64
uint8 uint16 uint32 uint64 float16 float32 float64 bool_ int_ intp floating number generic
issubdtype result_type convolve correlate digitize interp
linalg det inv norm matrix_rank solve lstsq pinv matrix_power
random rand randn randint choice shuffle permutation seed random_sample uniform normal
default_rng integers
"""
# Not here, because their result holds whatever memory held before (in the worker: data of
# earlier programs): empty, empty_like, the ndarray constructor, pad (mode="empty"); a ufunc's
# `where=` without `out=` does the same, so the `where` keyword and `**` in calls are refused.
# Allowed only where a type is named, not called (annotations, isinstance): the constructor returns
# uninitialised memory.
TYPE_ONLY = frozenset({"ndarray"})
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
    # The text of a function, lambda or iterator holds its heap address ("<map object at 0x…>"),
    # which depends on what earlier programs allocated in this worker: no object -> text here.
    ast.JoinedStr: "f-string",
}
# Names that turn any object into text (see ast.JoinedStr above). `chr` is not a builtin here
# either: `chr(37) + "r"` would make the `%r` that string constants may not hold.
_TEXT_OF = frozenset({"str", "repr", "ascii", "format", "print"})
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# Keywords refused in every call: `where=` (uninitialised memory, above), `align=` (padding, above),
# and `refcheck=` (`a.resize(n, refcheck=False)` frees the data under a view of `a`, which then
# reads and writes freed memory of the worker: malloc's own lists, and what later programs get).
_REFUSED_KEYWORDS = frozenset({"where", "align", "refcheck"})
if hasattr(ast, "TryStar"):
    _REJECT[ast.TryStar] = "except*"


_MISSING = object()
# Longer sources are refused unread: verifying costs ~1-2 us of CPU per character (a 180,000-character
# program took 1.2 s on a loaded VM), and the fast path counts it against the program's limit. Their
# own process parses them, within that limit. Generated programs are a few KB.
MAX_SOURCE = 32 * 1024


class Verifier:
    """Built once per worker from the globals a program gets; `check(src)` per program."""

    def __init__(self, base_globals: dict, common_ok: bool):
        import typing

        import numpy

        allowed = set(BUILTINS | EXCEPTIONS | TYPING | {"np", "numpy"})
        expected = {"np": numpy, "numpy": numpy, **{n: getattr(typing, n) for n in TYPING}}
        if common_ok:
            allowed |= COMMON | {"common"}
            common = base_globals.get("common")
            expected.update({n: getattr(common, n, None) for n in COMMON}, common=common)
        # A global that holds something else than the name promises (a helper library exporting
        # `max`, say) is not allowed: its code is not what was verified.
        allowed = {n for n in allowed if n not in base_globals or base_globals[n] is expected.get(n, _MISSING)}
        self.allowed = frozenset(allowed)
        self.modules = MODULES if common_ok else MODULES - {"common"}
        self.star = STAR_MODULES if common_ok else STAR_MODULES - {"common"}
        # A global read of one of these would reach an object the program may not have: reading
        # it is refused even where the program also binds the name (that binding may not run).
        self.unsafe_globals = frozenset((set(base_globals) | set(dir(builtins))) - allowed)

    def check(self, src: str) -> Verdict:
        """The verdict on one program. Unparsable source is admitted (nothing of it runs; the
        runner reports the syntax error), with tree None."""
        if len(src) > MAX_SOURCE:
            return Verdict(False, f"longer than {MAX_SOURCE} characters", False, None, True)
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
            return Verdict(True, "", False, None, True)
        try:
            uses_random, global_reads = self._flat(tree, src)
            if global_reads:  # rare: a name that could resolve to a refused global; scopes decide
                _Walk(self).scope(tree.body, None, [])
        except _Refused as e:
            return Verdict(False, str(e), False, None, True)
        except RecursionError:
            return Verdict(False, "too deeply nested", False, None, True)
        return Verdict(True, "", uses_random, tree, uses_random or not _stateless(tree, src))

    def _flat(self, tree: ast.Module, src: str) -> tuple[bool, bool]:
        """Every check that needs no scopes, in one pass over the tree; (mentions `random`,
        reads a name that is refused as a global)."""
        uses_random = global_reads = False
        stored: set[str] = set()
        caught: set[str] = set()
        unsafe = self.unsafe_globals
        type_only = _type_positions(tree) if "ndarray" in src else set()
        for node in _nodes(tree):
            t = type(node)
            if t is ast.Name:
                ident = node.id
                if ident.startswith("__"):
                    raise _Refused(f"name {ident}")
                if ident in _TEXT_OF:
                    raise _Refused(f"{ident}: the text of an object can show its heap address")
                if type(node.ctx) is ast.Load:
                    if ident in unsafe:
                        global_reads = True
                else:
                    stored.add(ident)
                if ident == "random":
                    uses_random = True
            elif t is ast.Attribute:
                if node.attr not in ATTRS and not (node.attr in TYPE_ONLY and id(node) in type_only):
                    raise _Refused(f"attribute .{node.attr}")
                if type(node.ctx) is not ast.Load:
                    raise _Refused(f"attribute store .{node.attr}")
                if node.attr == "random":
                    uses_random = True
            elif t in _REJECT:
                raise _Refused(_REJECT[t])
            elif t is ast.Constant:
                if type(node.value) is bytes:
                    raise _Refused("bytes literal: raw memory of an array")
                if type(node.value) is str and "%" in node.value:
                    raise _Refused("% in a string: formatting an object shows its heap address")
            elif t is ast.BinOp:
                if type(node.op) is ast.Mod and type(node.left) is ast.Constant and isinstance(node.left.value, str):
                    raise _Refused("% formatting: the text of an object can show its heap address")
            elif t is ast.Subscript:
                if type(node.ctx) is not ast.Load:
                    base = node.value
                    while type(base) is ast.Subscript:
                        base = base.value
                    if type(base) is not ast.Name:
                        raise _Refused("item store into something not held by a variable")
            elif t is ast.FunctionDef:
                if node.decorator_list:
                    raise _Refused("decorator")
                if node.name.startswith("__"):
                    raise _Refused(f"name {node.name}")
                stored.add(node.name)
            elif t is ast.arg:
                if node.arg.startswith("__"):
                    raise _Refused(f"name {node.arg}")
                stored.add(node.arg)
            elif t is ast.keyword:
                if node.arg is None or node.arg in _REFUSED_KEYWORDS:
                    raise _Refused("keyword where=, align=, refcheck= or ** in a call")
                if node.arg.startswith("__"):
                    raise _Refused(f"keyword {node.arg}")
            elif t is ast.Import or t is ast.ImportFrom:
                if _Walk(self).imports(node):
                    uses_random = True
                stored.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
            elif t is ast.ExceptHandler:
                _check_handler(node, caught)
                if node.name:
                    stored.add(node.name)
            elif t in _COMPREHENSIONS:
                if any(g.is_async for g in node.generators):
                    raise _Refused("async comprehension")
        if caught & stored:
            raise _Refused(f"rebinds exception name {sorted(caught & stored)[0]}")
        if type_only and stored & {"isinstance", "issubclass"}:
            raise _Refused("rebinds isinstance/issubclass next to a type passed to it")
        return uses_random, global_reads


class Verdict(NamedTuple):
    admitted: bool
    why: str  # why not admitted
    uses_random: bool  # names `random`: the global generators are reset after it
    tree: ast.Module | None  # the parsed source, compiled by the runner
    # False when the determinism re-run could not find anything: no randomness, and no state that
    # outlives a call (see `_stateless`).
    rerun: bool


class _Refused(Exception):
    pass


class _Walk:
    """Scope analysis, run only when the program reads a name that is refused as a global: such a
    read is allowed only where the name is a local (or closure) variable of an enclosing function,
    which Python then never looks up in the globals or builtins. (The other checks are in
    `Verifier._flat`; class scopes, `global` and `nonlocal` are refused there.)"""

    def __init__(self, v: Verifier):
        self.v = v

    def scope(self, body, args: ast.arguments | None, outer: list[set]) -> None:
        """A module (args None: its names are globals) or function body."""
        stack = outer + [_bound(body) | _arg_names(args)] if args is not None else []
        for node in body:
            self.visit(node, stack)

    def visit(self, node, stack: list[set]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            return self.function(node, stack)
        if isinstance(node, _COMPREHENSIONS):
            return self.comprehension(node, stack)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in self.v.unsafe_globals:
            if not any(node.id in scope for scope in stack):
                raise _Refused(f"name {node.id}")
        for child in ast.iter_child_nodes(node):
            self.visit(child, stack)

    def function(self, node, stack: list[set]) -> None:
        # Decorators (refused anyway), annotations and defaults are evaluated where it is defined.
        outside = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
        if isinstance(node, ast.FunctionDef):
            outside += [node.returns] + [a.annotation for a in _all_args(node.args)]
        for sub in outside:
            if sub is not None:
                self.visit(sub, stack)
        body = node.body if isinstance(node, ast.FunctionDef) else [ast.Expr(node.body)]
        self.scope(body, node.args, stack)

    def comprehension(self, node, stack: list[set]) -> None:
        gens = node.generators
        self.visit(gens[0].iter, stack)  # evaluated in the enclosing scope
        inner = stack + [set().union(*(_target_names(g.target) for g in gens))]
        for i, g in enumerate(gens):
            if i:
                self.visit(g.iter, inner)
            for cond in g.ifs:
                self.visit(cond, inner)
        for part in ("elt", "key", "value"):
            sub = getattr(node, part, None)
            if sub is not None:
                self.visit(sub, inner)

    def imports(self, node) -> bool:
        """Refuse an import the fast path cannot serve; True if it names `random`."""
        random_ = False
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name not in self.v.modules:
                    raise _Refused(f"import {a.name}")
                _check_ident(a.asname or a.name)
                random_ = random_ or "random" in a.name
            return random_
        mod = node.module or ""
        if node.level or mod not in self.v.modules:
            raise _Refused(f"import from {mod or '.'}")
        random_ = "random" in mod
        for a in node.names:
            if a.name == "*":
                if mod not in self.v.star:
                    raise _Refused(f"from {mod} import *")
                continue
            allowed = self.v.allowed if mod in ("common", "typing") else ATTRS
            if a.name not in allowed:
                raise _Refused(f"from {mod} import {a.name}")
            _check_ident(a.asname or a.name)
            random_ = random_ or a.name == "random"
        return random_


def _type_positions(tree: ast.Module) -> set[int]:
    """ids of the `x.ndarray` nodes that are only annotations or isinstance/issubclass classes:
    there the type is never called (an annotation is stored where no program can read it)."""
    spots: list = []
    for node in _nodes(tree):
        t = type(node)
        if t is ast.FunctionDef:
            spots.append(node.returns)
            spots += [a.annotation for a in _all_args(node.args)]
        elif t is ast.AnnAssign:
            spots.append(node.annotation)
        elif t is ast.Call and type(node.func) is ast.Name and node.func.id in ("isinstance", "issubclass"):
            if len(node.args) == 2:
                second = node.args[1]
                spots += second.elts if type(second) is ast.Tuple else [second]
    out: set[int] = set()
    for spot in spots:
        # Only plain type expressions (List[np.ndarray], np.ndarray | None): no call, walrus, lambda.
        nodes = list(ast.walk(spot)) if spot is not None else []
        if not all(isinstance(n, _TYPE_EXPR) for n in nodes):
            continue
        out.update(id(n) for n in nodes if type(n) is ast.Attribute and n.attr in TYPE_ONLY)
    return out


_TYPE_EXPR = (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Constant, ast.BinOp, ast.BitOr, ast.Load)


def _stateless(tree: ast.Module, src: str) -> bool:
    """Does every call of the program start from the same state? True when its module level only
    imports, defines functions whose defaults are constants and binds names to constants, and it
    never names the helper library's shared lists. (Its functions can then keep nothing between
    calls: attribute stores, `global`, decorators and generators are refused anyway.)"""
    if "ALL_COLORS" in src or "NOT_BLACK" in src:
        return False
    for node in tree.body:
        t = type(node)
        if t is ast.FunctionDef:
            if not all(_constant(d) for d in node.args.defaults + node.args.kw_defaults if d is not None):
                return False
        elif t is ast.Assign or t is ast.AnnAssign:
            if node.value is None or not _constant(node.value):
                return False
        elif t is ast.Expr:
            if type(node.value) is not ast.Constant:
                return False
        elif t is not ast.Import and t is not ast.ImportFrom:
            return False
    return True


def _constant(node) -> bool:
    """A literal of immutable values: a constant, -constant, or a tuple of those, or a dotted
    name (numpy's dtypes, `Color.RED`: never one of the shared lists, checked by the caller)."""
    t = type(node)
    if t is ast.Constant:
        return True
    if t is ast.UnaryOp:
        return type(node.operand) is ast.Constant
    if t is ast.Tuple:
        return all(_constant(e) for e in node.elts)
    if t is ast.Attribute:
        return type(node.value) is ast.Name
    return False


def _check_ident(ident: str) -> None:
    if ident.startswith("__"):
        raise _Refused(f"name {ident}")


def _check_handler(node: ast.ExceptHandler, caught: set[str]) -> None:
    t = node.type
    for n in t.elts if isinstance(t, ast.Tuple) else [t]:
        if not (isinstance(n, ast.Name) and n.id in EXCEPTIONS):
            raise _Refused("except clause that is not a named Exception subclass")
        caught.add(n.id)
    if node.name:
        _check_ident(node.name)


_SKIP_FIELDS = frozenset({"ctx", "op", "ops", "type_comment"})
# Fields that hold a name, number or constant in these classes (never a node): not pushed. Any
# other field is pushed, and what is not a node is dropped when popped; so a class or field this
# table does not know (a newer Python's) is still walked.
_LEAF_FIELDS = {
    ast.Name: {"id"},
    ast.Attribute: {"attr"},
    ast.Constant: {"value", "kind"},
    ast.FunctionDef: {"name"},
    ast.arg: {"arg"},
    ast.keyword: {"arg"},
    ast.alias: {"name", "asname"},
    ast.ImportFrom: {"module", "level"},
    ast.ExceptHandler: {"name"},
}
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(t: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(t)
    if fields is None:
        leaves = _SKIP_FIELDS | _LEAF_FIELDS.get(t, set())
        fields = _CHILD_FIELDS[t] = tuple(f for f in t._fields if f not in leaves)
    return fields


def _nodes(tree: ast.AST):
    """Every node of the tree (like ast.walk, without its generator per node or the context and
    operator leaves, which carry nothing to check), depth first. The fields to look at are
    computed once per node class: the walk is a fifth of a fast-path program's verification."""
    todo = [tree]
    pop, push, extend, AST, fields_of = todo.pop, todo.append, todo.extend, ast.AST, _CHILD_FIELDS
    while todo:
        node = pop()
        if not isinstance(node, AST):  # None, or a name in a list of names
            continue
        yield node
        t = type(node)
        fields = fields_of.get(t)
        for f in fields if fields is not None else _child_fields(t):
            v = getattr(node, f, None)
            if type(v) is list:
                extend(v)
            else:
                push(v)


def _all_args(args: ast.arguments) -> list[ast.arg]:
    out = args.posonlyargs + args.args + args.kwonlyargs
    return out + [a for a in (args.vararg, args.kwarg) if a is not None]


def _arg_names(args: ast.arguments | None) -> set[str]:
    return {a.arg for a in _all_args(args)} if args else set()


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
