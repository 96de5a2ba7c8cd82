"""Program templates, written the way BARC-style induction programs are (comment header with
concepts and description, `from common import *`, explicit loops), with randomised surface details
so the corpus holds distinct sources."""

from __future__ import annotations

import random

import numpy as np

HEADER = "from common import *\n\nimport numpy as np\nfrom typing import *\n\n"
COLORS = ["BLACK", "BLUE", "RED", "GREEN", "YELLOW", "GRAY", "PINK", "ORANGE", "TEAL", "MAROON"]


def _head(rng: random.Random, concepts: str, description: str) -> str:
    var = rng.choice(["", "\n# (generated)", "\n# induction sample"])
    return HEADER + f"# concepts:\n# {concepts}\n\n# description:\n# {description}{var}\n\n"


def _name(rng: random.Random) -> str:
    return rng.choice(["input_grid", "grid", "inp", "img"])


# ----- correct templates (used only on tasks they solve) -------------------------------------
def flip(rng, axis: int) -> str:
    g = _name(rng)
    body = (
        f"    output_grid = np.flip({g}, axis={axis})\n"
        if rng.random() < 0.5
        else f"    h, w = {g}.shape\n    output_grid = np.zeros_like({g})\n"
        f"    for i in range(h):\n        for j in range(w):\n"
        + (
            f"            output_grid[i, j] = {g}[h - 1 - i, j]\n"
            if axis == 0
            else f"            output_grid[i, j] = {g}[i, w - 1 - j]\n"
        )
    )
    return _head(rng, "mirror, symmetry", "Mirror the grid.") + f"def transform({g}):\n{body}    return output_grid\n"


def rotate(rng, k: int) -> str:
    g = _name(rng)
    return (
        _head(rng, "rotation", f"Rotate the grid {90 * k} degrees.")
        + f"def transform({g}):\n    return np.rot90({g}, k={k}).copy()\n"
    )


def transpose(rng) -> str:
    g = _name(rng)
    body = (
        f"    return {g}.T.copy()\n"
        if rng.random() < 0.5
        else f"    h, w = {g}.shape\n    out = np.zeros((w, h), dtype=int)\n"
        f"    for i in range(h):\n        for j in range(w):\n            out[j, i] = {g}[i, j]\n    return out\n"
    )
    return _head(rng, "diagonal symmetry", "Reflect along the main diagonal.") + f"def transform({g}):\n{body}"


def colormap(rng, mapping: dict) -> str:
    g = _name(rng)
    items = ", ".join(f"{a}: {b}" for a, b in sorted(mapping.items()))
    if rng.random() < 0.5:
        body = (
            f"    mapping = {{{items}}}\n    output_grid = {g}.copy()\n"
            f"    for r in range({g}.shape[0]):\n        for c in range({g}.shape[1]):\n"
            f"            output_grid[r, c] = mapping.get(int({g}[r, c]), {g}[r, c])\n    return output_grid\n"
        )
    else:
        body = (
            f"    lut = np.arange(10)\n    for a, b in {{{items}}}.items():\n        lut[a] = b\n    return lut[{g}]\n"
        )
    return _head(rng, "color mapping", "Recolor every cell with a fixed color map.") + f"def transform({g}):\n{body}"


def upscale(rng, k: int) -> str:
    g = _name(rng)
    body = (
        f"    return np.kron({g}, np.ones(({k}, {k}), dtype=int))\n"
        if rng.random() < 0.5
        else f"    h, w = {g}.shape\n    out = np.zeros((h * {k}, w * {k}), dtype=int)\n"
        f"    for i in range(h):\n        for j in range(w):\n"
        f"            out[i * {k}:(i + 1) * {k}, j * {k}:(j + 1) * {k}] = {g}[i, j]\n    return out\n"
    )
    return _head(rng, "scaling", f"Scale the grid up by {k}.") + f"def transform({g}):\n{body}"


def tile_grid(rng, ny: int, nx: int) -> str:
    g = _name(rng)
    return (
        _head(rng, "repetition, tiling", "Tile the input.")
        + f"def transform({g}):\n    return np.tile({g}, ({ny}, {nx}))\n"
    )


def crop_nonzero(rng) -> str:
    g = _name(rng)
    return (
        _head(rng, "cropping", "Crop to the non-black cells.")
        + f"def transform({g}):\n    return crop({g}, background=Color.BLACK)\n"
    )


CORRECT = {
    "flip": flip,
    "rotate": rotate,
    "transpose": transpose,
    "colormap": colormap,
    "upscale": upscale,
    "tile": tile_grid,
    "crop": crop_nonzero,
}


def candidate_solvers(task):
    """Which correct templates (with parameters) reproduce every train and test pair of `task`."""
    pairs = [(np.asarray(i), np.asarray(o)) for i, o in list(task.train) + list(task.test)]
    cands = [
        ("flip", {"axis": 0}, lambda a: np.flip(a, 0)),
        ("flip", {"axis": 1}, lambda a: np.flip(a, 1)),
        ("transpose", {}, lambda a: a.T),
    ]
    cands += [("rotate", {"k": k}, (lambda k: lambda a: np.rot90(a, k))(k)) for k in (1, 2, 3)]
    cands += [("upscale", {"k": k}, (lambda k: lambda a: np.kron(a, np.ones((k, k), dtype=int)))(k)) for k in (2, 3)]
    cands += [
        ("tile", {"ny": a, "nx": b}, (lambda a, b: lambda g: np.tile(g, (a, b)))(a, b))
        for a, b in ((1, 2), (2, 1), (2, 2), (3, 3))
    ]
    found = []
    for name, params, fn in cands:
        if all(fn(i).shape == o.shape and (fn(i) == o).all() for i, o in pairs):
            found.append((name, params))
    if all(i.shape == o.shape for i, o in pairs):
        mapping: dict[int, int] = {}
        ok = True
        for i, o in pairs:
            for a, b in zip(i.ravel().tolist(), o.ravel().tolist()):
                if mapping.setdefault(a, b) != b:
                    ok = False
                    break
            if not ok:
                break
        if ok and any(a != b for a, b in mapping.items()):
            found.append(("colormap", {"mapping": {a: b for a, b in mapping.items() if a != b}}))
    if all(_crop(i).shape == o.shape and (_crop(i) == o).all() for i, o in pairs):
        found.append(("crop", {}))
    return found


def _crop(a):
    xs, ys = np.nonzero(a)
    if len(xs) == 0:
        return a
    return a[xs.min() : xs.max() + 1, ys.min() : ys.max() + 1]


# ----- plausible but wrong (valid grids, usually not the answer) ------------------------------
def _wrong(rng, concepts: str, description: str, body: str) -> str:
    """A whole program: the header, then `body` (a transform(input_grid) written out, with
    COLOR standing for a colour drawn at random)."""
    color = rng.choice(COLORS[1:]) if "COLOR" in body else ""
    return _head(rng, concepts, description) + body.lstrip("\n").replace("COLOR", color)


def recolor_by_size(rng) -> str:
    return _wrong(
        rng,
        "objects, counting, recoloring",
        "Recolor the largest object.",
        """
def transform(input_grid):
    objects = find_connected_components(input_grid, background=Color.BLACK, connectivity=4, monochromatic=True)
    output_grid = input_grid.copy()
    if not objects:
        return output_grid
    largest = max(objects, key=lambda o: int(np.sum(o != Color.BLACK)))
    output_grid[largest != Color.BLACK] = Color.COLOR
    return output_grid
""",
    )


def fill_enclosed(rng) -> str:
    return _wrong(
        rng,
        "topology, flood fill",
        "Fill the black cells enclosed by other colors.",
        """
def transform(input_grid):
    h, w = input_grid.shape
    outside = np.zeros((h, w), dtype=bool)
    stack = [(i, j) for i in range(h) for j in range(w) if (i in (0, h - 1) or j in (0, w - 1)) and input_grid[i, j] == Color.BLACK]
    while stack:
        i, j = stack.pop()
        if outside[i, j]:
            continue
        outside[i, j] = True
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            a, b = i + di, j + dj
            if 0 <= a < h and 0 <= b < w and not outside[a, b] and input_grid[a, b] == Color.BLACK:
                stack.append((a, b))
    output_grid = input_grid.copy()
    output_grid[(input_grid == Color.BLACK) & ~outside] = Color.COLOR
    return output_grid
""",
    )


def gravity(rng) -> str:
    return _wrong(
        rng,
        "gravity, falling",
        "Let every colored cell fall to the bottom.",
        """
def transform(input_grid):
    h, w = input_grid.shape
    output_grid = np.zeros_like(input_grid)
    for j in range(w):
        column = [v for v in input_grid[:, j] if v != Color.BLACK]
        for k, v in enumerate(reversed(column)):
            output_grid[h - 1 - k, j] = v
    return output_grid
""",
    )


def complete_symmetry(rng) -> str:
    return _wrong(
        rng,
        "symmetry completion",
        "Make the grid left-right symmetric.",
        """
def transform(input_grid):
    output_grid = input_grid.copy()
    mirrored = np.fliplr(input_grid)
    mask = output_grid == Color.BLACK
    output_grid[mask] = mirrored[mask]
    return output_grid
""",
    )


def outline_objects(rng) -> str:
    return _wrong(
        rng,
        "objects, borders",
        "Draw a border around each object.",
        """
def transform(input_grid):
    output_grid = input_grid.copy()
    h, w = input_grid.shape
    for obj in detect_objects(input_grid, background=Color.BLACK, monochromatic=False, connectivity=8):
        xs, ys = np.nonzero(obj)
        for x, y in zip(xs, ys):
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    a, b = x + dx, y + dy
                    if 0 <= a < h and 0 <= b < w and output_grid[a, b] == Color.BLACK:
                        output_grid[a, b] = Color.COLOR
    return output_grid
""",
    )


def majority_color(rng) -> str:
    return _wrong(
        rng,
        "counting, colors",
        "Paint the grid with its most common non-black color.",
        """
def transform(input_grid):
    counts = np.bincount(input_grid.ravel(), minlength=10)
    counts[Color.BLACK] = 0
    color = int(np.argmax(counts))
    output_grid = np.where(input_grid != Color.BLACK, color, Color.BLACK)
    return output_grid
""",
    )


def wrong_simple(rng) -> str:
    k = rng.randint(1, 3)
    return rotate(rng, k) if rng.random() < 0.5 else flip(rng, rng.randint(0, 1))


WRONG = [recolor_by_size, fill_enclosed, gravity, complete_symmetry, outline_objects, majority_color, wrong_simple]


# ----- failing programs -------------------------------------------------------------------------
def exception(rng) -> str:
    bug = rng.randrange(4)
    if bug == 0:  # off-by-one past the edge
        return (
            _head(rng, "lines", "Extend lines to the right.")
            + "def transform(input_grid):\n    output_grid = input_grid.copy()\n"
            "    h, w = input_grid.shape\n    for i in range(h):\n        for j in range(w + 1):\n"
            "            if input_grid[i, j] != Color.BLACK:\n                output_grid[i, j + 1] = input_grid[i, j]\n"
            "    return output_grid\n"
        )
    if bug == 1:  # helper that does not exist
        return (
            _head(rng, "objects", "Sort objects.")
            + "def transform(input_grid):\n    objs = find_objects_sorted(input_grid)\n    return objs[0]\n"
        )
    if bug == 2:  # empty list
        return (
            _head(rng, "objects", "Crop the smallest object.")
            + "def transform(input_grid):\n    objects = [o for o in find_connected_components(input_grid) if np.sum(o != 0) > 1000]\n"
            "    return crop(min(objects, key=lambda o: np.sum(o != 0)))\n"
        )
    return (
        _head(rng, "shapes", "Combine halves.") + "def transform(input_grid):\n    h, w = input_grid.shape\n"
        "    return input_grid[:, :w // 2] | input_grid[:h // 2 + 1, w // 2:]\n"
    )


def invalid_output(rng) -> str:
    bad = rng.choice(
        [
            "return input_grid / 2",
            "return input_grid.tolist()[0]",
            "return None",
            "return np.stack([input_grid, input_grid])",
            "return np.full((3, 3), 12)",
            "return [[str(v) for v in row] for row in input_grid]",
        ]
    )
    return _head(rng, "misc", "Something.") + f"def transform(input_grid):\n    {bad}\n"


def cut_off(rng) -> str:
    """A completion truncated at the length limit: a correct-looking program cut mid-way."""
    src = rng.choice(WRONG)(rng)
    body = src.index("def transform")
    return src[: rng.randrange(body + 20, len(src) - 5)]


def unseeded(rng) -> str:
    return (
        _head(rng, "noise", "Sprinkle random pixels.")
        + "def transform(input_grid):\n    output_grid = input_grid.copy()\n"
        "    mask = np.random.rand(*input_grid.shape) < 0.2\n"
        "    output_grid[mask] = np.random.randint(1, 10, size=int(mask.sum()))\n    return output_grid\n"
    )


def endless(rng) -> str:
    return (
        _head(rng, "iteration", "Grow until stable.")
        + "def transform(input_grid):\n    output_grid = input_grid.copy()\n    changed = True\n"
        "    while changed:\n        changed = bool((output_grid >= 0).all())\n    return output_grid\n"
    )


FAILING = {
    "exception": exception,
    "invalid_output": invalid_output,
    "parse": cut_off,
    "nondeterministic": unseeded,
    "timeout": endless,
}
