"""Which packages `import unsloth` needs, read from the source (unsloth cannot be imported without a GPU).

    python3 benchmarks/gpu/unsloth_imports.py SITE [MORE_SITE ...] [--host FILE] [--root unsloth] [--show-optional]

SITE holds the installed unsloth set (`pip install --no-deps --target SITE .whl-unsloth/*.whl`). From
the root package's `__init__.py` it follows every import of a module of the same set, at module
level (what runs on `import unsloth`), and sorts the imports of other top-level packages into:

  needed       at module level, outside any try block and `if`: the module fails without it
  conditional  under an `if` (a platform, a version, `is_X_available()`): needed where it holds
  optional     inside a try block (the module carries on without it)
  lazy         inside a function, outside a try block (imported, and needed, when it runs)
  lazy-guarded inside a function and a try block

A package counts as present when it is in SITE or a MORE_SITE (e.g. /tmp/site of the project's own
wheels), in the standard library, or named in --host (one distribution name a line: the GPU host's
package list); without --host, what this interpreter can import counts too. Prints one line
per missing needed package with the modules that import it, then the missing others by kind;
exit code 1 when a needed package is missing.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
import sys
from collections import defaultdict
from pathlib import Path

# distribution name -> import name, where they differ beyond "-" -> "_"
IMPORT_NAMES = {
    "pillow": "PIL",
    "pyyaml": "yaml",
    "protobuf": "google",
    "opencv-python-headless": "cv2",
    "scikit-learn": "sklearn",
    "scikit-image": "skimage",
    "nvidia-ml-py": "pynvml",
    "python-dateutil": "dateutil",
    "msgpack-python": "msgpack",
    "attrs": "attr",
}


def host_modules(path: Path | None) -> set[str]:
    if path is None:
        return set()
    names = set()
    for line in path.read_text().splitlines():
        name = line.split("#")[0].strip().lower()
        if name:
            names.add(IMPORT_NAMES.get(name, re.sub(r"[-.]", "_", name)))
            names.add(re.sub(r"[-.]", "_", name))
    return names


class Imports(ast.NodeVisitor):
    """(absolute module name, kind) of every import in one module; kind: a key of RANK."""

    def __init__(self, module: str, is_package: bool):
        self.package = module if is_package else module.rpartition(".")[0]
        self.found: list[tuple[str, str]] = []
        self._try = 0
        self._func = 0
        self._if = 0

    def _kind(self) -> str:
        if self._func:
            return "lazy-guarded" if self._try else "lazy"
        return "optional" if self._try else "conditional" if self._if else "needed"

    def visit_Try(self, node):
        self._try += 1
        for child in node.body:
            self.visit(child)
        self._try -= 1
        for child in node.handlers + node.orelse + node.finalbody:
            self.visit(child)

    visit_TryStar = visit_Try

    def visit_FunctionDef(self, node):
        self._func += 1
        self.generic_visit(node)
        self._func -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_If(self, node):
        # `if TYPE_CHECKING:` never runs
        test = node.test
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            return
        self._if += 1
        self.generic_visit(node)
        self._if -= 1

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, self._kind()))

    def visit_ImportFrom(self, node):
        if node.level:
            parts = self.package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
        else:
            target = node.module or ""
        self.found.append((target, self._kind()))
        # `from pkg import sub` may name a submodule
        for alias in node.names:
            if alias.name != "*":
                self.found.append((f"{target}.{alias.name}", self._kind() + "?"))


def module_file(site: Path, module: str) -> tuple[Path, bool] | None:
    base = site.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    return None


RANK = {"needed": 0, "conditional": 1, "optional": 2, "lazy": 3, "lazy-guarded": 4}


def weaker(a: str, b: str) -> str:
    return a if RANK[a] > RANK[b] else b


def walk(site: Path, root: str, own: set[str]):
    """({external top-level name: {kind: [importing module, ...]}}, modules run) over `import root`.
    A module reached only through a conditional or guarded import passes that kind on to its own
    imports."""
    reach: dict[str, str] = {}  # module -> strongest kind it is reached with
    parsed: dict[str, list[tuple[str, str]]] = {}
    todo = [(root, "needed")]
    while todo:
        module, via = todo.pop()
        if module in reach and RANK[reach[module]] <= RANK[via]:
            continue
        if module not in parsed:
            found = module_file(site, module)
            if found is None:
                continue
            path, is_package = found
            visitor = Imports(module, is_package)
            visitor.visit(ast.parse(path.read_text(), str(path)))
            parsed[module] = visitor.found
        reach[module] = via
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = module.split(".")
        todo += [(".".join(parts[:i]), via) for i in range(1, len(parts))]
        for name, kind in parsed[module]:
            kind = kind.rstrip("?")
            if name.split(".")[0] in own and not kind.startswith("lazy"):
                todo.append((name, weaker(kind, via)))
    external: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, via in reach.items():
        for name, kind in parsed[module]:
            top = name.split(".")[0]
            if top in own or kind.endswith("?") or not top:
                continue
            external[top][weaker(kind, via)].append(module)
    return external, set(reach)


def present(name: str, sites: list[Path], host: set[str] | None) -> bool:
    if name in sys.stdlib_module_names or name == "__future__" or (host is not None and name in host):
        return True
    for site in sites:
        if (site / name).is_dir() or (site / f"{name}.py").is_file() or any(site.glob(f"{name}.*.so")):
            return True
    return host is None and importlib.util.find_spec(name) is not None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sites", type=Path, nargs="+")
    ap.add_argument("--host", type=Path, help="file of distribution names present on the target host")
    ap.add_argument("--root", default="unsloth")
    ap.add_argument("--show-optional", action="store_true", help="also list the optional/lazy packages present")
    args = ap.parse_args(argv)
    site = args.sites[0]
    own = {p.name for p in site.iterdir() if (p / "__init__.py").is_file()}
    host = host_modules(args.host) if args.host else None
    external, modules = walk(site, args.root, own)
    print(f"{len(modules)} modules of {sorted({m.split('.')[0] for m in modules})} run on `import {args.root}`")
    missing_needed = 0
    for kind in RANK:
        rows = []
        for name in sorted(external):
            where = external[name].get(kind)
            if not where:
                continue
            ok = present(name, args.sites, host)
            if kind == "needed" and not ok:
                missing_needed += 1
            if not ok or (args.show_optional and kind != "needed"):
                where = sorted(set(where))
                more = f" (+{len(where) - 3} more)" if len(where) > 3 else ""
                rows.append(f"  {'present' if ok else 'MISSING'} {name}: {', '.join(where[:3])}{more}")
        print(f"{kind}: {len(rows)} listed" + ("" if rows else " (none missing)"))
        print("\n".join(rows)) if rows else None
    return 1 if missing_needed else 0


if __name__ == "__main__":
    raise SystemExit(main())
