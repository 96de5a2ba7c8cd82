"""`common`: the helper library that generated programs import (`from common import *`).

Our own implementation of the helpers that BARC-style induction programs call most, in plain
numpy. Conventions follow those programs: a grid is a 2-D integer array indexed `grid[x, y]`
(x along the first axis), `width, height = grid.shape`, and an "object" or "sprite" is a grid in
which cells equal to `background` are empty. Functions named `blit_*` and `flood_fill` write into
the grid they are given (and return it); the others return new arrays. No randomness here:
programs must be deterministic, the sandbox checks it.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

__all__ = [
    "Color",
    "flood_fill",
    "draw_line",
    "find_connected_components",
    "detect_objects",
    "bounding_box",
    "bounding_box_mask",
    "crop",
    "object_position",
    "object_colors",
    "blit",
    "blit_sprite",
    "blit_object",
    "translate",
    "collision",
    "contact",
    "is_contiguous",
    "object_interior",
    "object_boundary",
    "object_neighbors",
    "scale_sprite",
    "scale_pattern",
    "downscale",
    "neighbors",
    "detect_mirror_symmetry_axes",
    "tile",
    "detect_background_color",
    "MirrorSymmetry",
    "RotationalSymmetry",
    "TranslationalSymmetry",
    "detect_mirror_symmetry",
    "detect_rotational_symmetry",
    "detect_translational_symmetry",
    "orbit",
    "show_colored_grid",
]


class Color:
    BLACK = 0
    BLUE = 1
    RED = 2
    GREEN = 3
    YELLOW = 4
    GRAY = 5
    GREY = 5
    PINK = 6
    ORANGE = 7
    PURPLE = 8
    TEAL = 8
    BROWN = 9
    MAROON = 9
    TRANSPARENT = 0
    BACKGROUND = 0
    ALL_COLORS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    NOT_BLACK = [1, 2, 3, 4, 5, 6, 7, 8, 9]


_N4 = ((1, 0), (-1, 0), (0, 1), (0, -1))
_N8 = _N4 + ((1, 1), (1, -1), (-1, 1), (-1, -1))


def _offsets(connectivity: int) -> tuple[tuple[int, int], ...]:
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    return _N4 if connectivity == 4 else _N8


def neighbors(grid: np.ndarray, x: int, y: int, connectivity: int = 4) -> list[tuple[int, int]]:
    """In-bounds neighbour coordinates of (x, y)."""
    w, h = grid.shape
    return [(x + dx, y + dy) for dx, dy in _offsets(connectivity) if 0 <= x + dx < w and 0 <= y + dy < h]


def _label(mask: np.ndarray, connectivity: int, same: np.ndarray | None = None) -> list[np.ndarray]:
    """Boolean masks of the connected regions of `mask`; with `same`, neighbours must also share
    the value in `same` (single-colour components)."""
    seen = np.zeros(mask.shape, dtype=bool)
    offs = _offsets(connectivity)
    w, h = mask.shape
    regions = []
    for sx, sy in zip(*np.nonzero(mask)):
        if seen[sx, sy]:
            continue
        region = np.zeros(mask.shape, dtype=bool)
        seen[sx, sy] = region[sx, sy] = True
        queue = deque([(sx, sy)])
        while queue:
            x, y = queue.popleft()
            for dx, dy in offs:
                nx, ny = x + dx, y + dy
                if 0 <= nx < w and 0 <= ny < h and mask[nx, ny] and not seen[nx, ny]:
                    if same is not None and same[nx, ny] != same[x, y]:
                        continue
                    seen[nx, ny] = region[nx, ny] = True
                    queue.append((nx, ny))
        regions.append(region)
    return regions


def flood_fill(grid: np.ndarray, x: int, y: int, color: int, connectivity: int = 4) -> np.ndarray:
    """Recolour the region of cells with grid[x, y]'s colour that contains (x, y). In place."""
    target = grid[x, y]
    if target == color:
        return grid
    for region in _label(grid == target, connectivity):
        if region[x, y]:
            grid[region] = color
            break
    return grid


def draw_line(
    grid: np.ndarray,
    x: int,
    y: int,
    end_x: int | None = None,
    end_y: int | None = None,
    length: int | None = None,
    direction: tuple[int, int] | None = None,
    color: int | None = None,
    stop_at_color: Iterable[int] = (),
) -> tuple[int, int]:
    """Draw from (x, y) towards (end_x, end_y), or along `direction` (dx, dy) for `length` cells
    (until the border when None). Stops before a cell whose colour is in `stop_at_color`.
    Returns the last cell drawn (or (x - dx, y - dy) when nothing was drawn). In place."""
    if color is None:
        color = grid[x, y]
    stops = set(int(c) for c in stop_at_color)
    if direction is None:
        if end_x is None or end_y is None:
            raise ValueError("draw_line needs an end point or a direction")
        dx, dy = int(np.sign(end_x - x)), int(np.sign(end_y - y))
        steps = max(abs(end_x - x), abs(end_y - y)) + 1
        if length is not None:
            steps = min(steps, length)
    else:
        dx, dy = int(direction[0]), int(direction[1])
        steps = length if length is not None else max(grid.shape) * 2
    w, h = grid.shape
    last = (x - dx, y - dy)
    cx, cy = x, y
    for _ in range(steps):
        if not (0 <= cx < w and 0 <= cy < h) or int(grid[cx, cy]) in stops:
            break
        grid[cx, cy] = color
        last = (cx, cy)
        if dx == 0 and dy == 0:
            break
        cx, cy = cx + dx, cy + dy
    return last


def find_connected_components(
    grid: np.ndarray, background: int = Color.BLACK, connectivity: int = 4, monochromatic: bool = True
) -> list[np.ndarray]:
    """Each component as a grid of the input's shape: its cells keep their colour, the rest is
    `background`. Monochromatic components split at colour changes."""
    grid = np.asarray(grid)
    regions = _label(grid != background, connectivity, grid if monochromatic else None)
    objects = []
    for region in regions:
        obj = np.full_like(grid, background)
        obj[region] = grid[region]
        objects.append(obj)
    return objects


def detect_objects(
    grid: np.ndarray,
    _: object = None,
    predicate: Callable[[np.ndarray], bool] | None = None,
    background: int = Color.BLACK,
    monochromatic: bool = False,
    connectivity: int | None = None,
    allowed_dimensions: Iterable[tuple[int, int]] | None = None,
    colors: Iterable[int] | None = None,
    can_overlap: bool = False,
) -> list[np.ndarray]:
    """Connected components (8-connected unless told otherwise) filtered by colour, bounding-box
    dimensions (width, height) and a predicate on the cropped object."""
    comps = find_connected_components(grid, background, connectivity or 8, monochromatic)
    dims = None if allowed_dimensions is None else {tuple(d) for d in allowed_dimensions}
    wanted = None if colors is None else set(int(c) for c in colors)
    out = []
    for obj in comps:
        if wanted is not None and not set(object_colors(obj, background)) <= wanted:
            continue
        if dims is not None and tuple(bounding_box(obj, background)[2:]) not in dims:
            continue
        if predicate is not None and not predicate(crop(obj, background)):
            continue
        out.append(obj)
    return out


def bounding_box(grid: np.ndarray, background: int = Color.BLACK) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the non-background cells; (0, 0, 0, 0) when there are none."""
    xs, ys = np.nonzero(np.asarray(grid) != background)
    if len(xs) == 0:
        return 0, 0, 0, 0
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def bounding_box_mask(grid: np.ndarray, background: int = Color.BLACK) -> np.ndarray:
    x, y, w, h = bounding_box(grid, background)
    mask = np.zeros(np.shape(grid), dtype=bool)
    mask[x : x + w, y : y + h] = True
    return mask


def crop(grid: np.ndarray, background: int = Color.BLACK) -> np.ndarray:
    """The smallest sub-grid holding every non-background cell (the whole grid if there are none)."""
    grid = np.asarray(grid)
    x, y, w, h = bounding_box(grid, background)
    if w == 0:
        return grid.copy()
    return grid[x : x + w, y : y + h].copy()


def object_position(obj: np.ndarray, background: int = Color.BLACK, anchor: str = "upper left") -> tuple[int, int]:
    """A reference point of the object's bounding box: upper/lower left/right, or center."""
    x, y, w, h = bounding_box(obj, background)
    anchor = anchor.lower().replace("_", " ")
    cx, cy = x + (w - 1) // 2, y + (h - 1) // 2
    points = {
        "upper left": (x, y),
        "upper right": (x + w - 1, y),
        "lower left": (x, y + h - 1),
        "lower right": (x + w - 1, y + h - 1),
        "center": (cx, cy),
        "upper center": (cx, y),
        "lower center": (cx, y + h - 1),
        "left center": (x, cy),
        "right center": (x + w - 1, cy),
        "middle left": (x, cy),
        "middle right": (x + w - 1, cy),
    }
    if anchor not in points:
        raise ValueError(f"unknown anchor {anchor!r}; use one of {', '.join(points)}")
    return points[anchor]


def object_colors(obj: np.ndarray, background: int = Color.BLACK) -> list[int]:
    return sorted(int(c) for c in np.unique(obj) if c != background)


def blit_sprite(
    grid: np.ndarray, sprite: np.ndarray, x: int, y: int, background: int | None = Color.BLACK
) -> np.ndarray:
    """Paint `sprite` with its [0, 0] at (x, y), skipping its background cells and clipping at
    the border. In place."""
    sprite = np.asarray(sprite)
    w, h = grid.shape
    sw, sh = sprite.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + sw, w), min(y + sh, h)
    if x0 >= x1 or y0 >= y1:
        return grid
    part = sprite[x0 - x : x1 - x, y0 - y : y1 - y]
    target = grid[x0:x1, y0:y1]
    if background is None:
        target[...] = part
    else:
        keep = part != background
        target[keep] = part[keep]
    return grid


def blit_object(grid: np.ndarray, obj: np.ndarray, background: int = Color.BLACK) -> np.ndarray:
    """Paint a full-size object grid onto `grid` at the same coordinates. In place."""
    return blit_sprite(grid, obj, 0, 0, background)


def blit(grid: np.ndarray, sprite: np.ndarray, x: int = 0, y: int = 0, background: int | None = None) -> np.ndarray:
    """Like blit_sprite, on a copy."""
    return blit_sprite(np.array(grid, copy=True), sprite, x, y, background)


def translate(obj: np.ndarray, x: int, y: int, background: int = Color.BLACK) -> np.ndarray:
    """The object moved by (x, y); cells pushed past the border are lost."""
    obj = np.asarray(obj)
    out = np.full_like(obj, background)
    return blit_sprite(out, obj, x, y, background)


def _placed(obj: np.ndarray, x: int, y: int, shape: tuple[int, int], background: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    src = np.asarray(obj) != background
    return blit_sprite(mask, src, x, y, False)


def collision(
    _: object = None,
    object1: np.ndarray | None = None,
    object2: np.ndarray | None = None,
    x1: int = 0,
    y1: int = 0,
    x2: int = 0,
    y2: int = 0,
    background: int = Color.BLACK,
) -> bool:
    """Whether the two objects, placed at (x1, y1) and (x2, y2), overlap in any cell."""
    if object1 is None or object2 is None:
        raise ValueError("collision needs object1 and object2")
    shape = (
        max(object1.shape[0] + x1, object2.shape[0] + x2) + 1,
        max(object1.shape[1] + y1, object2.shape[1] + y2) + 1,
    )
    ox, oy = min(x1, x2, 0), min(y1, y2, 0)
    shape = (shape[0] - ox, shape[1] - oy)
    a = _placed(object1, x1 - ox, y1 - oy, shape, background)
    b = _placed(object2, x2 - ox, y2 - oy, shape, background)
    return bool((a & b).any())


def contact(
    _: object = None,
    object1: np.ndarray | None = None,
    object2: np.ndarray | None = None,
    x1: int = 0,
    y1: int = 0,
    x2: int = 0,
    y2: int = 0,
    background: int = Color.BLACK,
    connectivity: int = 4,
) -> bool:
    """Whether the objects touch (a cell of one is next to, or on, a cell of the other)."""
    if object1 is None or object2 is None:
        raise ValueError("contact needs object1 and object2")
    for dx, dy in ((0, 0),) + _offsets(connectivity):
        if collision(object1=object1, object2=object2, x1=x1 + dx, y1=y1 + dy, x2=x2, y2=y2, background=background):
            return True
    return False


def is_contiguous(bitmask: np.ndarray, background: int | bool = Color.BLACK, connectivity: int = 4) -> bool:
    mask = np.asarray(bitmask) != background
    return len(_label(mask, connectivity)) == 1


def object_interior(grid: np.ndarray, background: int = Color.BLACK) -> np.ndarray:
    """Mask of the object's cells plus every background cell it encloses (not reachable from the
    border through background)."""
    grid = np.asarray(grid)
    empty = grid == background
    w, h = grid.shape
    padded = np.pad(empty, 1, constant_values=True)
    outside = next(r for r in _label(padded, 4) if r[0, 0])[1 : w + 1, 1 : h + 1]
    return ~outside


def object_boundary(grid: np.ndarray, background: int = Color.BLACK) -> np.ndarray:
    """Cells of the interior that touch (4-connected) a cell outside it or the border."""
    inside = object_interior(grid, background)
    padded = np.pad(inside, 1, constant_values=False)
    core = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inside & ~core


def object_neighbors(grid: np.ndarray, background: int = Color.BLACK, connectivity: int = 4) -> np.ndarray:
    """Mask of background cells adjacent to the object."""
    obj = np.asarray(grid) != background
    padded = np.pad(obj, 1, constant_values=False)
    w, h = obj.shape
    near = np.zeros_like(obj)
    for dx, dy in _offsets(connectivity):
        near |= padded[1 + dx : 1 + dx + w, 1 + dy : 1 + dy + h]
    return near & ~obj


def scale_sprite(sprite: np.ndarray, factor: int) -> np.ndarray:
    """Each cell becomes a factor x factor block."""
    return np.kron(np.asarray(sprite), np.ones((factor, factor), dtype=np.asarray(sprite).dtype))


def scale_pattern(pattern: np.ndarray, scale_factor: int) -> np.ndarray:
    return scale_sprite(pattern, scale_factor)


def show_colored_grid(grid: np.ndarray, text: bool = True) -> None:
    """Print the array one first-axis slice per line (programs call it while debugging; the
    sandbox captures the output)."""
    for row in np.asarray(grid):
        print(" ".join(str(int(v)) for v in row))


def downscale(grid: np.ndarray, factor: int) -> np.ndarray:
    """Inverse of scale_sprite: keep the top-left cell of each factor x factor block."""
    return np.asarray(grid)[::factor, ::factor].copy()


def tile(pattern: np.ndarray, nx: int, ny: int) -> np.ndarray:
    return np.tile(np.asarray(pattern), (nx, ny))


def detect_mirror_symmetry_axes(grid: np.ndarray) -> list[str]:
    """Which mirror symmetries the grid has: 'x' (first axis reversed), 'y', 'diagonal'."""
    g = np.asarray(grid)
    axes = []
    if (g == g[::-1, :]).all():
        axes.append("x")
    if (g == g[:, ::-1]).all():
        axes.append("y")
    if g.shape[0] == g.shape[1] and (g == g.T).all():
        axes.append("diagonal")
    return axes


def detect_background_color(grid: np.ndarray) -> int:
    """The most frequent colour (ties: the smallest)."""
    counts = Counter(int(v) for v in np.asarray(grid).ravel())
    return min(counts, key=lambda c: (-counts[c], c))


# --- symmetries ---------------------------------------------------------------------------------
# Symmetry completion tasks hide part of a symmetric picture under an "occluder" colour. Detection
# therefore ignores some colours: a symmetry holds when no pair of visible cells disagrees and
# enough visible cells have a visible partner (at least half), so a trivial axis at the edge of the
# grid, where almost nothing pairs up, does not count.


@dataclass(frozen=True)
class MirrorSymmetry:
    """Reflection across x = mirror_x and/or y = mirror_y (half-integers fall between cells)."""

    mirror_x: float | None = None
    mirror_y: float | None = None

    def apply(self, x: int, y: int, iters: int = 1) -> tuple[int, int]:
        if iters % 2:
            if self.mirror_x is not None:
                x = int(round(2 * self.mirror_x - x))
            if self.mirror_y is not None:
                y = int(round(2 * self.mirror_y - y))
        return x, y


@dataclass(frozen=True)
class RotationalSymmetry:
    """Quarter turns about (center_x, center_y)."""

    center_x: float
    center_y: float

    def apply(self, x: int, y: int, iters: int = 1) -> tuple[int, int]:
        dx, dy = x - self.center_x, y - self.center_y
        for _ in range(iters % 4):
            dx, dy = -dy, dx
        return int(round(self.center_x + dx)), int(round(self.center_y + dy))


@dataclass(frozen=True)
class TranslationalSymmetry:
    """The pattern repeats every (translate_x, translate_y) cells."""

    translate_x: int
    translate_y: int

    def apply(self, x: int, y: int, iters: int = 1) -> tuple[int, int]:
        return x + iters * self.translate_x, y + iters * self.translate_y


def _agrees(
    grid: np.ndarray, visible: np.ndarray, xs: np.ndarray, ys: np.ndarray, xs2: np.ndarray, ys2: np.ndarray
) -> int:
    """Visible pairs that agree, or -1 when any visible pair disagrees or too few pair up."""
    w, h = grid.shape
    inb = (xs2 >= 0) & (xs2 < w) & (ys2 >= 0) & (ys2 < h)
    a, b = (xs[inb], ys[inb]), (xs2[inb], ys2[inb])
    both = visible[a] & visible[b]
    if (grid[a][both] != grid[b][both]).any():
        return -1
    paired = int(both.sum())
    return paired if paired > 0 and 2 * paired >= int(visible.sum()) else -1


def _visible_cells(
    grid: np.ndarray, ignore_colors: Iterable[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(grid, visible mask, x and y of the visible cells). `background` in the detectors is accepted
    for call compatibility: background cells are part of the picture (they must mirror too); only
    `ignore_colors` (occluders) are skipped."""
    grid = np.asarray(grid)
    visible = ~np.isin(grid, list(ignore_colors))
    xs, ys = np.nonzero(visible)
    return grid, visible, xs, ys


def detect_mirror_symmetry(
    grid: np.ndarray, ignore_colors: Iterable[int] = (Color.BLACK,), background: int | None = None
) -> list[MirrorSymmetry]:
    """Mirror symmetries of the visible cells, best supported first."""
    grid, visible, xs, ys = _visible_cells(grid, ignore_colors)
    w, h = grid.shape
    found = []
    for twice in range(1, 2 * w - 2):
        score = _agrees(grid, visible, xs, ys, twice - xs, ys)
        if score >= 0:
            found.append((score, MirrorSymmetry(mirror_x=twice / 2)))
    for twice in range(1, 2 * h - 2):
        score = _agrees(grid, visible, xs, ys, xs, twice - ys)
        if score >= 0:
            found.append((score, MirrorSymmetry(mirror_y=twice / 2)))
    return [sym for _, sym in sorted(found, key=lambda t: -t[0])]


def detect_rotational_symmetry(
    grid: np.ndarray, ignore_colors: Iterable[int] = (Color.BLACK,), background: int | None = None
) -> RotationalSymmetry | None:
    """The best supported quarter-turn symmetry of the visible cells, or None."""
    grid, visible, xs, ys = _visible_cells(grid, ignore_colors)
    w, h = grid.shape
    best: tuple[int, RotationalSymmetry | None] = (-1, None)
    for tx in range(0, 2 * w - 1):
        for ty in range(0, 2 * h - 1):
            if (tx + ty) % 2:  # the centre must map cells onto cells
                continue
            cx, cy = tx / 2, ty / 2
            x2 = np.round(cx - (ys - cy)).astype(int)
            y2 = np.round(cy + (xs - cx)).astype(int)
            score = _agrees(grid, visible, xs, ys, x2, y2)
            if score > best[0]:
                best = (score, RotationalSymmetry(cx, cy))
    return best[1]


def detect_translational_symmetry(
    grid: np.ndarray, ignore_colors: Iterable[int] = (Color.BLACK,), background: int | None = None
) -> list[TranslationalSymmetry]:
    """The shortest repeat along each axis where the visible cells repeat (at most one per axis)."""
    grid, visible, xs, ys = _visible_cells(grid, ignore_colors)
    w, h = grid.shape
    found = []
    for px in range(1, w):
        if _agrees(grid, visible, xs, ys, xs + px, ys) >= 0 and _agrees(grid, visible, xs, ys, xs - px, ys) >= 0:
            found.append(TranslationalSymmetry(px, 0))
            break
    for py in range(1, h):
        if _agrees(grid, visible, xs, ys, xs, ys + py) >= 0 and _agrees(grid, visible, xs, ys, xs, ys - py) >= 0:
            found.append(TranslationalSymmetry(0, py))
            break
    return found


def orbit(grid: np.ndarray, x: int, y: int, symmetries: Iterable[object]) -> list[tuple[int, int]]:
    """Every in-bounds cell that (x, y) reaches by applying the symmetries (and their inverses)."""
    w, h = np.shape(grid)
    syms = list(symmetries) if not hasattr(symmetries, "apply") else [symmetries]
    seen = {(x, y)}
    queue = deque([(x, y)])
    while queue:
        cx, cy = queue.popleft()
        for sym in syms:
            for iters in (1, -1):
                nx, ny = sym.apply(cx, cy, iters=iters)
                if 0 <= nx < w and 0 <= ny < h and (nx, ny) not in seen:
                    seen.add((nx, ny))
                    queue.append((nx, ny))
    return sorted(seen)
