"""Synthetic ARC-like tasks with the program that solves each, for SFT warm start.

A freshly built model first has to learn the *form* of an answer (a well-formed `transform` in a
```python block that imports `common`); these tasks teach that with rules simple enough to be
learnable: geometric transforms, colour maps, object recolouring, cropping, scaling, lines,
tiling, mirror-concatenation and filling enclosed areas.
Each family computes outputs with its own numpy code and emits the program as text; the tests
execute the text and check it reproduces the outputs.
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np

from jobs.arc_in_reach import ARC1_TRAIN_IN_REACH  # noqa: F401 (re-exported: the families' reach)
from trainer.data import Grid, Pair, Task
from trainer.encoders import COLOR_NAMES, GridEncoder
from trainer.extract import open_block_code
from trainer.prompts import ASSISTANT_PREFIX, build_messages

# The program text starts with the code the assistant prefix already opened.
PROGRAM_HEAD = open_block_code(ASSISTANT_PREFIX) or ""

Family = Callable[
    [random.Random], tuple[str, str, str, Callable[[np.ndarray], np.ndarray], Callable[[random.Random], np.ndarray]]
]


def _program(concepts: str, description: str, body: str) -> str:
    desc = "\n".join(f"# {line}" for line in description.splitlines())
    return f"{PROGRAM_HEAD}\n# {concepts}\n\n# description:\n{desc}\n\ndef transform(input_grid):\n{body}\n"


def _noise(
    rng: random.Random,
    lo: int = 3,
    hi: int = 10,
    density: tuple[float, float] = (0.2, 0.6),
    colors: list[int] | None = None,
) -> np.ndarray:
    h, w = rng.randint(lo, hi), rng.randint(lo, hi)
    colors = colors or rng.sample(range(1, 10), rng.randint(2, 4))
    d = rng.uniform(*density)
    g = np.zeros((h, w), dtype=int)
    for r in range(h):
        for c in range(w):
            if rng.random() < d:
                g[r, c] = rng.choice(colors)
    if not g.any():
        g[rng.randrange(h), rng.randrange(w)] = colors[0]
    return g


# --- families: each returns (concepts, description, body, solve, make_input) ------------------


def _geometric(rng: random.Random):
    kind = rng.choice(["fliplr", "flipud", "rot90", "rot180", "rot270", "transpose"])
    table = {
        "fliplr": (
            "mirroring",
            "The output is the input mirrored left to right.",
            "    return np.fliplr(input_grid)",
            np.fliplr,
        ),
        "flipud": (
            "mirroring",
            "The output is the input mirrored top to bottom.",
            "    return np.flipud(input_grid)",
            np.flipud,
        ),
        "rot90": (
            "rotation",
            "The output is the input turned a quarter turn counterclockwise.",
            "    return np.rot90(input_grid, 1)",
            lambda g: np.rot90(g, 1),
        ),
        "rot180": (
            "rotation",
            "The output is the input turned upside down (half a turn).",
            "    return np.rot90(input_grid, 2)",
            lambda g: np.rot90(g, 2),
        ),
        "rot270": (
            "rotation",
            "The output is the input turned a quarter turn clockwise.",
            "    return np.rot90(input_grid, -1)",
            lambda g: np.rot90(g, -1),
        ),
        "transpose": (
            "reflection across the diagonal",
            "Rows of the input become columns of the output.",
            "    return input_grid.T.copy()",
            lambda g: g.T,
        ),
    }
    concepts, desc, body, solve = table[kind]
    return concepts, desc, body, solve, lambda r: _noise(r)


def _color_map(rng: random.Random):
    src = rng.sample(range(1, 10), rng.randint(1, 3))
    dst = [rng.choice([c for c in range(1, 10) if c != s]) for s in src]
    mapping = dict(zip(src, dst))
    pairs = ", ".join(f"{COLOR_NAMES[s].lower()} becomes {COLOR_NAMES[d].lower()}" for s, d in mapping.items())
    lines = ["    output_grid = input_grid.copy()"]
    for s, d in mapping.items():
        lines.append(f"    output_grid[input_grid == Color.{COLOR_NAMES[s].upper()}] = Color.{COLOR_NAMES[d].upper()}")
    lines.append("    return output_grid")

    def solve(g: np.ndarray) -> np.ndarray:
        out = g.copy()
        for s, d in mapping.items():
            out[g == s] = d
        return out

    others = [c for c in range(1, 10) if c not in mapping]

    def make(r: random.Random) -> np.ndarray:
        return _noise(r, colors=src + r.sample(others, min(len(others), r.randint(0, 2))))

    return "colour mapping", f"Every cell changes colour by a fixed rule: {pairs}.", "\n".join(lines), solve, make


def _blobs(r: random.Random, color: int, n_objects: tuple[int, int], distinct_sizes: bool) -> np.ndarray:
    """Grid with separate single-colour blobs (never touching, even diagonally)."""
    for _ in range(100):
        h, w = r.randint(6, 14), r.randint(6, 14)
        g = np.zeros((h, w), dtype=int)
        sizes: list[int] = []
        for _ in range(r.randint(*n_objects)):
            bh, bw = r.randint(1, 3), r.randint(1, 4)
            y, x = r.randrange(h - bh + 1), r.randrange(w - bw + 1)
            if g[max(0, y - 1) : y + bh + 1, max(0, x - 1) : x + bw + 1].any():
                continue
            if distinct_sizes and bh * bw in sizes:
                continue
            g[y : y + bh, x : x + bw] = color
            sizes.append(bh * bw)
        if len(sizes) >= n_objects[0]:
            return g
    raise RuntimeError("could not place objects")


def _recolor_largest(rng: random.Random):
    color, target = rng.sample(range(1, 10), 2)
    body = (
        "    output_grid = input_grid.copy()\n"
        "    objects = find_connected_components(input_grid, background=Color.BLACK, connectivity=4)\n"
        "    largest = max(objects, key=lambda obj: np.count_nonzero(obj != Color.BLACK))\n"
        f"    output_grid[largest != Color.BLACK] = Color.{COLOR_NAMES[target].upper()}\n"
        "    return output_grid"
    )

    def solve(g: np.ndarray) -> np.ndarray:
        from trainer.program_library import find_connected_components

        objs = find_connected_components(g)
        big = max(objs, key=lambda o: int((o != 0).sum()))
        out = g.copy()
        out[big != 0] = target
        return out

    desc = (
        f"The input has several {COLOR_NAMES[color].lower()} objects of different sizes.\n"
        f"The largest one is recoloured {COLOR_NAMES[target].lower()}; the others stay as they are."
    )
    return "objects, recolouring by size", desc, body, solve, lambda r: _blobs(r, color, (2, 5), True)


def _crop_object(rng: random.Random):
    body = "    return crop(input_grid, background=Color.BLACK)"

    def make(r: random.Random) -> np.ndarray:
        h, w = r.randint(5, 14), r.randint(5, 14)
        g = np.zeros((h, w), dtype=int)
        sh, sw = r.randint(2, min(5, h)), r.randint(2, min(5, w))
        colors = r.sample(range(1, 10), r.randint(1, 2))
        sprite = np.array([[r.choice(colors) if r.random() < 0.7 else 0 for _ in range(sw)] for _ in range(sh)])
        # opposite corners filled: the bounding box is exactly the sprite
        sprite[0, 0], sprite[-1, -1] = colors[0], colors[-1]
        y, x = r.randrange(h - sh + 1), r.randrange(w - sw + 1)
        g[y : y + sh, x : x + sw] = sprite
        return g

    def solve(g: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(g)
        return g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]

    return "cropping", "The output is the smallest rectangle around the single object in the input.", body, solve, make


def _scale(rng: random.Random):
    k = rng.randint(2, 3)
    body = f"    return np.kron(input_grid, np.ones(({k}, {k}), dtype=input_grid.dtype))"
    return (
        "scaling",
        f"Each cell of the input becomes a {k} by {k} block of the same colour.",
        body,
        lambda g: np.kron(g, np.ones((k, k), dtype=g.dtype)),
        lambda r: _noise(r, 2, 30 // k // 2 + 2),
    )


def _lines(rng: random.Random):
    direction = rng.choice(["right", "down", "row", "column"])
    if direction in ("right", "down"):
        dr, dc = (0, 1) if direction == "right" else (1, 0)
        body = (
            "    output_grid = input_grid.copy()\n"
            "    for row, col in np.argwhere(input_grid != Color.BLACK):\n"
            f"        r, c = row + {dr}, col + {dc}\n"
            "        while r < output_grid.shape[0] and c < output_grid.shape[1] and input_grid[r, c] == Color.BLACK:\n"
            "            output_grid[r, c] = input_grid[row, col]\n"
            f"            r, c = r + {dr}, c + {dc}\n"
            "    return output_grid"
        )
        where = "to the right edge" if direction == "right" else "down to the bottom edge"
        desc = f"From every coloured cell a line of its colour is drawn {where}, stopping at the next coloured cell."

        def solve(g: np.ndarray) -> np.ndarray:
            out = g.copy()
            for row, col in np.argwhere(g != 0):
                r, c = row + dr, col + dc
                while r < g.shape[0] and c < g.shape[1] and g[r, c] == 0:
                    out[r, c] = g[row, col]
                    r, c = r + dr, c + dc
            return out
    else:
        axis = "row" if direction == "row" else "column"
        index = "output_grid[row, :]" if axis == "row" else "output_grid[:, col]"
        body = (
            "    output_grid = input_grid.copy()\n"
            "    for row, col in np.argwhere(input_grid != Color.BLACK):\n"
            f"        {index} = input_grid[row, col]\n"
            "    return output_grid"
        )
        desc = f"Each input holds one coloured cell; its whole {axis} is filled with that colour."

        def solve(g: np.ndarray) -> np.ndarray:
            out = g.copy()
            for row, col in np.argwhere(g != 0):
                if axis == "row":
                    out[row, :] = g[row, col]
                else:
                    out[:, col] = g[row, col]
            return out

    def make(r: random.Random) -> np.ndarray:
        if direction in ("right", "down"):
            return _noise(r, 4, 12, density=(0.05, 0.15))
        g = np.zeros((r.randint(3, 12), r.randint(3, 12)), dtype=int)
        g[r.randrange(g.shape[0]), r.randrange(g.shape[1])] = r.randint(1, 9)
        return g

    return "drawing lines", desc, body, solve, make


def _tile(rng: random.Random):
    reps = rng.choice([(1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (3, 3)])
    body = f"    return np.tile(input_grid, {reps})"
    words = {1: "once", 2: "twice", 3: "three times"}
    desc = f"The output repeats the input {words[reps[0]]} from top to bottom and {words[reps[1]]} from left to right."
    hi = max(2, min(8, 30 // max(reps)))
    return "repetition, tiling", desc, body, lambda g: np.tile(g, reps), lambda r: _noise(r, 2, hi)


def _mirror_concat(rng: random.Random):
    kind = rng.choice(["right", "below", "left", "above"])
    table = {
        "right": (
            "np.concatenate([input_grid, np.fliplr(input_grid)], axis=1)",
            "its mirror image is placed to the right of it",
            lambda g: np.concatenate([g, np.fliplr(g)], axis=1),
        ),
        "left": (
            "np.concatenate([np.fliplr(input_grid), input_grid], axis=1)",
            "its mirror image is placed to the left of it",
            lambda g: np.concatenate([np.fliplr(g), g], axis=1),
        ),
        "below": (
            "np.concatenate([input_grid, np.flipud(input_grid)], axis=0)",
            "its upside-down mirror image is placed below it",
            lambda g: np.concatenate([g, np.flipud(g)], axis=0),
        ),
        "above": (
            "np.concatenate([np.flipud(input_grid), input_grid], axis=0)",
            "its upside-down mirror image is placed above it",
            lambda g: np.concatenate([np.flipud(g), g], axis=0),
        ),
    }
    expr, what, solve = table[kind]
    return (
        "mirroring, concatenation",
        f"The output is the input where {what}.",
        f"    return {expr}",
        solve,
        lambda r: _noise(r, 2, 8),
    )


def _fill_enclosed(rng: random.Random):
    fill = rng.randint(1, 9)
    wall = rng.choice([c for c in range(1, 10) if c != fill])
    body = (
        "    output_grid = input_grid.copy()\n"
        "    width, height = input_grid.shape\n"
        "    empty = (input_grid == Color.BLACK).astype(int)\n"
        "    for region in find_connected_components(empty, background=0, connectivity=4):\n"
        "        xs, ys = np.nonzero(region)\n"
        "        if xs.min() > 0 and ys.min() > 0 and xs.max() < width - 1 and ys.max() < height - 1:\n"
        f"            output_grid[region != 0] = Color.{COLOR_NAMES[fill].upper()}\n"
        "    return output_grid"
    )
    desc = (
        f"Black areas completely enclosed by {COLOR_NAMES[wall].lower()} walls are filled with "
        f"{COLOR_NAMES[fill].lower()}; black areas that reach the border stay black."
    )

    def solve(g: np.ndarray) -> np.ndarray:
        from trainer.program_library import object_interior

        # a black cell is enclosed when it is not reachable from outside the grid through black
        enclosed = object_interior(g) & (g == 0)
        out = g.copy()
        out[enclosed] = fill
        return out

    def make(r: random.Random) -> np.ndarray:
        while True:
            h, w = r.randint(6, 14), r.randint(6, 14)
            g = np.zeros((h, w), dtype=int)
            for _ in range(r.randint(1, 3)):
                bh, bw = r.randint(3, min(6, h)), r.randint(3, min(6, w))
                y, x = r.randrange(h - bh + 1), r.randrange(w - bw + 1)
                g[y : y + bh, x] = g[y : y + bh, x + bw - 1] = wall
                g[y, x : x + bw] = g[y + bh - 1, x : x + bw] = wall
            for _ in range(r.randint(0, 4)):  # stray wall cells
                g[r.randrange(h), r.randrange(w)] = wall
            if (solve(g) != g).any():
                return g

    return "topology, filling enclosed regions", desc, body, solve, make


FAMILIES: dict[str, Family] = {
    "geometric": _geometric,
    "color_map": _color_map,
    "recolor_largest": _recolor_largest,
    "crop": _crop_object,
    "scale": _scale,
    "lines": _lines,
    "tile": _tile,
    "mirror_concat": _mirror_concat,
    "fill_enclosed": _fill_enclosed,
}


def _to_grid(a: np.ndarray) -> Grid:
    return [[int(v) for v in row] for row in np.asarray(a)]


def generate_tasks(n: int, seed: int = 0) -> list[tuple[Task, str]]:
    """n tasks, cycling through the families, each with the program that solves it."""
    rng = random.Random(seed)
    names = list(FAMILIES)
    out = []
    i = 0
    while len(out) < n:
        family = names[i % len(names)]
        i += 1
        concepts, desc, body, solve, make = FAMILIES[family](rng)
        pairs = []
        for _ in range(rng.randint(3, 4) + 1):
            g = make(rng)
            pairs.append(Pair(_to_grid(g), _to_grid(solve(g))))
        # a task where some output equals its input teaches nothing about the rule
        if any(p.input == p.output for p in pairs) or any(max(len(p.output), len(p.output[0])) > 30 for p in pairs):
            continue
        task = Task(f"synthetic-{seed}-{len(out):05d}-{family}", pairs[:-1], pairs[-1:])
        out.append((task, _program(concepts, desc, body)))
    return out


# --- drawing tasks: the toy HER targets' family, never their instances ------------------------
# A blank canvas to turn into a picture of squares or full lines, the program drawing each shape at
# explicit coordinates in reading order (top to bottom, left to right), so writing it is a scan of
# the output grid in the order the prompt shows it. A model warm-started on these has seen how such
# a picture becomes a program before HER asks it for a target it has never seen: the targets'
# counts (the toy ladder's) and, for every count, the targets' canvas shapes are left out.

DRAWING_KINDS = ("squares", "vertical-lines", "horizontal-lines")


def _toy_canvas(n: int, kind: str) -> tuple[int, int]:
    """The canvas shape of the toy target with n shapes of this kind (see _toy_picture)."""
    if kind == "squares":
        side = min(30, 10 + n // 2)
        return side, side
    length = max(5, min(30, 2 * n + 1))
    return (10, length) if kind == "vertical-lines" else (length, 10)


def _is_toy_instance(n: int, kind: str, shape: tuple[int, int]) -> bool:
    """A count of the toy ladder, or the canvas a toy target of this count would have."""
    from jobs.her_targets import TOY_LADDER, parse_toy_name

    ladder = {parse_toy_name(t) for t in TOY_LADDER}
    return (n, kind) in ladder or shape == _toy_canvas(n, kind)


def _place_squares(n: int, h: int, w: int, rng: random.Random) -> list[tuple[int, int, int, int]] | None:
    """n non-touching squares (row, col, side, colour) on an h x w canvas, or None when they do not fit."""
    g = np.zeros((h, w), dtype=int)
    out: list[tuple[int, int, int, int]] = []
    for _ in range(50 * n):
        if len(out) == n:
            break
        s = rng.randint(1, min(3, h, w))
        r, c = rng.randrange(h - s + 1), rng.randrange(w - s + 1)
        if g[max(0, r - 1) : r + s + 1, max(0, c - 1) : c + s + 1].any():
            continue  # squares never touch, as in the targets
        color = rng.randint(1, 9)
        g[r : r + s, c : c + s] = color
        out.append((r, c, s, color))
    return sorted(out) if len(out) == n else None


def _color(c: int) -> str:
    return f"Color.{COLOR_NAMES[c].upper()}"


def _square_line(r: int, c: int, s: int, color: int) -> str:
    if s == 1:
        return f"    output_grid[{r}, {c}] = {_color(color)}"
    return f"    output_grid[{r}:{r + s}, {c}:{c + s}] = {_color(color)}"


def drawing_task(rng: random.Random, index: int = 0, seed: int = 0, max_side: int = 30) -> tuple[Task, str]:
    """One blank-canvas -> picture task of the toy targets' family, with its drawing program;
    canvases of 3..max_side cells a side (small ones keep CPU runs' prompts short)."""
    kind = rng.choice(DRAWING_KINDS)
    while True:
        if kind == "squares":
            n = rng.randint(1, 30)
            h, w = rng.randint(3, max_side), rng.randint(3, max_side)
            if (h * w) < 6 * n:
                continue
            found = _place_squares(n, h, w, rng)
            if found is None:
                continue
            g = np.zeros((h, w), dtype=int)
            lines = []
            for r, c, s, color in found:
                g[r : r + s, c : c + s] = color
                lines.append(_square_line(r, c, s, color))
            what = f"{n} square{'s' if n > 1 else ''}"
        else:
            n = rng.randint(1, min(14, (max_side + 1) // 2))
            across = rng.randint(max(3, 2 * n - 1), max_side)  # room for n lines one apart
            along = rng.randint(3, max_side)
            h, w = (along, across) if kind == "vertical-lines" else (across, along)
            # i-th of n sorted distinct starts, shifted by i: lines at least one apart
            at = [start + i for i, start in enumerate(sorted(rng.sample(range(across - n + 1), n)))]
            g = np.zeros((h, w), dtype=int)
            lines = []
            for k in at:
                color = rng.randint(1, 9)
                if kind == "vertical-lines":
                    g[:, k] = color
                    lines.append(f"    output_grid[:, {k}] = {_color(color)}")
                else:
                    g[k, :] = color
                    lines.append(f"    output_grid[{k}, :] = {_color(color)}")
            what = f"{n} {kind.split('-')[0]} line{'s' if n > 1 else ''}"
        if _is_toy_instance(n, kind, (h, w)):
            continue
        body = "    output_grid = np.zeros_like(input_grid)\n" + "\n".join(lines) + "\n    return output_grid"
        desc = f"The input is a black canvas. The output draws {what} on it, each at its own place and colour."
        blank, picture = _to_grid(np.zeros_like(g)), _to_grid(g)
        # as in the targets: one train pair, and the test asks for the same picture again
        task = Task(f"synthetic-{seed}-{index:05d}-drawing", [Pair(blank, picture)], [Pair(blank, picture)])
        return task, _program("drawing, coordinates", desc, body)


def drawing_tasks(n: int, seed: int = 0, max_side: int = 30) -> list[tuple[Task, str]]:
    if not 3 <= max_side <= 30:
        raise ValueError(f"max_side {max_side}: drawing canvases are 3..30 cells a side")
    rng = random.Random(f"drawing:{seed}")
    return [drawing_task(rng, i, seed, max_side) for i in range(n)]


def warm_start_tasks(n: int, seed: int = 0, drawing_share: float = 0.0, max_side: int = 30) -> list[tuple[Task, str]]:
    """n synthetic tasks, `drawing_share` of them drawing tasks (shuffled in), the rest generate_tasks'."""
    n_draw = round(n * drawing_share)
    draw, other = drawing_tasks(n_draw, seed, max_side), generate_tasks(n - n_draw, seed)
    rng = random.Random(seed)
    out = draw + other
    rng.shuffle(out)
    return out


def sft_example(task: Task, program: str, encoder: GridEncoder, test_index: int = 0) -> list[dict[str, str]]:
    """Prompt messages plus the assistant answer, in the exact format GRPO prompts use."""
    if not program.startswith(PROGRAM_HEAD):
        raise ValueError("program must start with the code opened by ASSISTANT_PREFIX")
    answer = ASSISTANT_PREFIX + program[len(PROGRAM_HEAD) :].rstrip() + "\n```"
    return build_messages(task, encoder, test_index) + [{"role": "assistant", "content": answer}]


# --- toy HER targets ------------------------------------------------------------------------
# A blank canvas to turn into a picture of N squares or N full lines (jobs.her_targets names them).
# The picture is the same for the train and the test pair: the task is to draw it.


def _toy_picture(n: int, kind: str, rng: random.Random) -> np.ndarray:
    if kind == "squares":
        side = min(30, 10 + n // 2)
        for _ in range(200):
            g = np.zeros((side, side), dtype=int)
            placed = 0
            for _ in range(50 * n):
                if placed == n:
                    break
                s = rng.randint(1, 3)
                r, c = rng.randrange(side - s + 1), rng.randrange(side - s + 1)
                if g[max(0, r - 1) : r + s + 1, max(0, c - 1) : c + s + 1].any():
                    continue  # squares never touch, so each one reads as one object
                g[r : r + s, c : c + s] = rng.randint(1, 9)
                placed += 1
            if placed == n:
                return g
        raise RuntimeError(f"could not place {n} squares")
    length = max(5, min(30, 2 * n + 1))
    g = np.zeros((10, length), dtype=int)
    # i-th of n sorted distinct starts, shifted by i: lines at least one column apart
    for i, start in enumerate(sorted(rng.sample(range(length - n + 1), n))):
        g[:, start + i] = rng.randint(1, 9)
    return g if kind == "vertical-lines" else g.T.copy()


def toy_targets(names: list[str], seed: int = 0) -> list[Task]:
    """One HER target task per name (`12-squares`, `9-vertical-lines`, ...), the same pictures for
    the same seed."""
    from jobs.her_targets import parse_toy_name

    out = []
    for name in names:
        n, kind = parse_toy_name(name)
        picture = _toy_picture(n, kind, random.Random(f"{name}:{seed}"))
        blank = _to_grid(np.zeros_like(picture))
        out.append(Task(name, [Pair(blank, _to_grid(picture))], [Pair(blank, _to_grid(picture))]))
    return out
