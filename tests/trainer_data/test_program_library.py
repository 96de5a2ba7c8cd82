"""The `common` helper library that programs import."""

from __future__ import annotations

import numpy as np
import pytest

from trainer import program_library as common
from trainer.program_library import (
    Color,
    blit,
    blit_object,
    blit_sprite,
    bounding_box,
    collision,
    contact,
    crop,
    detect_objects,
    draw_line,
    find_connected_components,
    flood_fill,
    is_contiguous,
    object_boundary,
    object_colors,
    object_interior,
    object_neighbors,
    object_position,
    scale_sprite,
    translate,
)

G = np.array(
    [
        [0, 1, 1, 0, 0],
        [0, 1, 2, 0, 3],
        [0, 0, 0, 0, 3],
        [4, 0, 0, 3, 0],
    ]
)


def test_colors_and_star_import():
    assert (Color.BLACK, Color.BLUE, Color.RED, Color.GREEN, Color.YELLOW) == (0, 1, 2, 3, 4)
    assert Color.GRAY == Color.GREY == 5 and Color.TEAL == Color.PURPLE == 8 and Color.MAROON == Color.BROWN == 9
    assert Color.NOT_BLACK == list(range(1, 10))
    ns: dict = {}
    exec("from trainer.program_library import *", ns)
    for name in common.__all__:
        assert name in ns


def test_connected_components_monochromatic_and_connectivity():
    comps = find_connected_components(G, connectivity=4, monochromatic=True)
    # blue L, red single, green pair, green single (diagonal), yellow single
    assert len(comps) == 5
    assert all(c.shape == G.shape for c in comps)
    sizes = sorted(int((c != 0).sum()) for c in comps)
    assert sizes == [1, 1, 1, 2, 3]
    assert len(find_connected_components(G, connectivity=8, monochromatic=True)) == 4
    multi = find_connected_components(G, connectivity=4, monochromatic=False)
    assert sorted(int((c != 0).sum()) for c in multi) == [1, 1, 2, 4]
    # cells keep their colour, the rest is background
    blue_red = next(c for c in multi if (c != 0).sum() == 4)
    assert object_colors(blue_red) == [1, 2]
    assert len(find_connected_components(np.full((3, 3), 7), background=7)) == 0


def test_bounding_box_crop_position():
    obj = np.zeros((6, 7), dtype=int)
    obj[2:4, 3:6] = 5
    assert bounding_box(obj) == (2, 3, 2, 3)
    assert crop(obj).shape == (2, 3) and (crop(obj) == 5).all()
    assert object_position(obj) == (2, 3)
    assert object_position(obj, anchor="lower right") == (3, 5)
    assert object_position(obj, anchor="center") == (2, 4)
    assert bounding_box(np.zeros((2, 2), dtype=int)) == (0, 0, 0, 0)
    with pytest.raises(ValueError, match="anchor"):
        object_position(obj, anchor="middle")


def test_flood_fill_in_place():
    g = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 0]])
    out = flood_fill(g, 0, 0, 4)
    assert out is g
    assert g.tolist() == [[4, 4, 1], [1, 4, 1], [0, 1, 0]]
    g2 = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 0]])
    flood_fill(g2, 0, 0, 4, connectivity=8)
    assert g2.tolist() == [[4, 4, 1], [1, 4, 1], [4, 1, 4]]


def test_draw_line_directions_ends_and_stops():
    g = np.zeros((5, 5), dtype=int)
    assert draw_line(g, 0, 0, direction=(1, 1), color=2) == (4, 4)
    assert np.diag(g).tolist() == [2] * 5
    g = np.zeros((5, 5), dtype=int)
    g[0, 3] = 9
    assert draw_line(g, 0, 0, direction=(0, 1), color=1, stop_at_color=[9]) == (0, 2)
    assert g[0].tolist() == [1, 1, 1, 9, 0]
    g = np.zeros((5, 5), dtype=int)
    draw_line(g, 4, 1, end_x=4, end_y=3, color=6)
    assert g[4].tolist() == [0, 6, 6, 6, 0]
    g = np.zeros((5, 5), dtype=int)
    draw_line(g, 1, 0, length=2, direction=(1, 0), color=3)
    assert g[:, 0].tolist() == [0, 3, 3, 0, 0]


def test_blit_and_translate():
    sprite = np.array([[1, 0], [1, 1]])
    g = np.full((4, 4), 0)
    blit_sprite(g, sprite, 2, 3)  # clipped at the border
    assert g[2:, 3].tolist() == [1, 1] and g.sum() == 2
    base = np.full((3, 3), 5)
    out = blit(base, sprite, 0, 0, background=0)
    assert out.tolist() == [[1, 5, 5], [1, 1, 5], [5, 5, 5]] and (base == 5).all()
    obj = np.zeros((3, 3), dtype=int)
    obj[0, 0] = 7
    moved = translate(obj, 1, 2)
    assert moved[1, 2] == 7 and moved.sum() == 7
    canvas = np.zeros((3, 3), dtype=int)
    blit_object(canvas, moved)
    assert canvas[1, 2] == 7


def test_collision_and_contact():
    a = np.array([[1, 1]])
    b = np.array([[2], [2]])
    assert collision(object1=a, object2=b, x1=0, y1=0, x2=0, y2=1)
    assert not collision(object1=a, object2=b, x1=0, y1=0, x2=0, y2=2)
    assert contact(object1=a, object2=b, x1=0, y1=0, x2=0, y2=2)
    assert not contact(object1=a, object2=b, x1=0, y1=0, x2=0, y2=3)


def test_interior_boundary_neighbors_contiguity():
    ring = np.zeros((5, 5), dtype=int)
    ring[1:4, 1:4] = 3
    ring[2, 2] = 0
    inside = object_interior(ring)
    assert inside[2, 2] and inside[1:4, 1:4].all() and inside.sum() == 9
    boundary = object_boundary(ring)
    assert boundary.sum() == 8 and not boundary[2, 2]
    near = object_neighbors(ring)
    assert near.sum() == 12 + 1  # the 12 cells around the ring (4-connected) and the hole
    assert is_contiguous(ring) and not is_contiguous(G)


def test_detect_objects_filters():
    objs = detect_objects(G, monochromatic=True, connectivity=4, colors=[3])
    assert len(objs) == 2
    objs = detect_objects(G, allowed_dimensions=[(2, 2)], monochromatic=False, connectivity=4)
    assert len(objs) == 1 and object_colors(objs[0]) == [1, 2]
    objs = detect_objects(G, predicate=lambda sprite: sprite.size == 1, connectivity=4, monochromatic=True)
    assert len(objs) == 3


def test_scale_sprite():
    assert scale_sprite(np.array([[1, 2]]), 2).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2]]


def test_background_color():
    from trainer.program_library import detect_background_color

    assert detect_background_color(G) == 0
    assert detect_background_color(np.array([[3, 3, 1], [1, 2, 3]])) == 3


def _occlude(full, box, color=Color.BROWN):
    g = full.copy()
    (x0, x1), (y0, y1) = box
    g[x0:x1, y0:y1] = color
    return g


def test_mirror_symmetry_completion_like_a_program_would_do_it():
    from trainer.program_library import detect_mirror_symmetry, orbit

    rng = np.random.default_rng(0)
    half = rng.integers(1, 5, size=(8, 5))
    full = np.concatenate([half, half[:, ::-1]], axis=1)  # mirror across y = 4.5
    hidden = _occlude(full, ((2, 5), (6, 9)))
    syms = detect_mirror_symmetry(hidden, ignore_colors=[Color.BROWN])
    assert syms and syms[0].mirror_y == 4.5 and syms[0].mirror_x is None
    out = hidden.copy()
    for x, y in np.argwhere(hidden == Color.BROWN):
        for sx, sy in orbit(hidden, x, y, syms[:1]):
            if hidden[sx, sy] != Color.BROWN:
                out[x, y] = hidden[sx, sy]
    assert (out == full).all()


def test_rotational_and_translational_symmetry():
    from trainer.program_library import detect_rotational_symmetry, detect_translational_symmetry, orbit

    rng = np.random.default_rng(1)
    q = rng.integers(1, 9, size=(3, 3))
    full = np.zeros((6, 6), dtype=int)
    full[:3, :3] = q
    full[:3, 3:] = np.rot90(q, -1)
    full[3:, 3:] = np.rot90(q, -2)
    full[3:, :3] = np.rot90(q, -3)
    assert (np.rot90(full) == full).all()
    sym = detect_rotational_symmetry(_occlude(full, ((0, 2), (0, 2))), ignore_colors=[Color.BROWN])
    assert sym is not None and (sym.center_x, sym.center_y) == (2.5, 2.5)
    assert len(orbit(full, 0, 0, sym)) == 4
    tile_ = rng.integers(1, 9, size=(2, 3))
    pattern = np.tile(tile_, (4, 3))
    trans = detect_translational_symmetry(_occlude(pattern, ((1, 3), (2, 5))), ignore_colors=[Color.BROWN])
    assert {(t.translate_x, t.translate_y) for t in trans} == {(2, 0), (0, 3)}
    assert len(orbit(pattern, 0, 0, trans)) == 4 * 3


def test_call_compatible_signatures(capsys):
    from trainer.program_library import detect_mirror_symmetry, scale_pattern, show_colored_grid

    assert scale_pattern(pattern=np.array([[3]]), scale_factor=3).shape == (3, 3)
    g = np.array([[1, 2], [1, 2]])
    assert detect_mirror_symmetry(g, ignore_colors=[], background=Color.BLACK)
    assert object_position(g, anchor="upper center") == (0, 0)
    show_colored_grid(np.array([[1, 2], [3, 4]]))
    assert capsys.readouterr().out == "1 2\n3 4\n"
