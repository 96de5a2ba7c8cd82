"""Grid <-> text encoders for prompts. One grid row per line; the cell format is the encoder's.

Colour names are what the BARC induction models were trained on; digits are about 3x shorter in
tokens, which matters for the 30x30 tasks near the context limit.
"""

from __future__ import annotations

from trainer.data import Grid, validate_grid

COLOR_NAMES = ["Black", "Blue", "Red", "Green", "Yellow", "Gray", "Pink", "Orange", "Purple", "Brown"]


class GridEncoder:
    name = ""
    description = ""

    def encode(self, grid: Grid) -> str:
        raise NotImplementedError

    def decode(self, text: str) -> Grid:
        raise NotImplementedError


class ColorNameEncoder(GridEncoder):
    name = "color_names"
    description = (
        "Each grid is written one row per line, each cell as a colour name "
        "(" + ", ".join(f"{i}={c}" for i, c in enumerate(COLOR_NAMES)) + ") separated by spaces."
    )
    _index = {c.lower(): i for i, c in enumerate(COLOR_NAMES)} | {"grey": 5}

    def encode(self, grid: Grid) -> str:
        return "\n".join(" ".join(COLOR_NAMES[v] for v in row) for row in grid)

    def decode(self, text: str) -> Grid:
        rows = []
        for line in text.strip().splitlines():
            row = []
            for word in line.split():
                if word.lower() not in self._index:
                    raise ValueError(f"unknown colour name {word!r}")
                row.append(self._index[word.lower()])
            rows.append(row)
        return validate_grid(rows, "decoded grid")


class DigitEncoder(GridEncoder):
    name = "digits"

    def __init__(self, separator: str = "") -> None:
        self.separator = separator
        sep = (
            "separated by spaces"
            if separator == " "
            else "with no separator"
            if not separator
            else f"separated by {separator!r}"
        )
        self.description = f"Each grid is written one row per line, each cell as a digit 0-9 {sep}."

    def encode(self, grid: Grid) -> str:
        return "\n".join(self.separator.join(str(v) for v in row) for row in grid)

    def decode(self, text: str) -> Grid:
        rows = []
        for line in text.strip().splitlines():
            cells = line.split(self.separator) if self.separator.strip() else [c for c in line if not c.isspace()]
            if not all(c.strip().isdigit() and len(c.strip()) == 1 for c in cells):
                raise ValueError(f"row {line!r} is not a row of digits")
            rows.append([int(c) for c in cells])
        return validate_grid(rows, "decoded grid")


ENCODERS = {"color_names": ColorNameEncoder, "digits": DigitEncoder}


def get_encoder(name: str) -> GridEncoder:
    try:
        return ENCODERS[name]()
    except KeyError:
        raise ValueError(f"unknown grid encoder {name!r}; choose one of {', '.join(ENCODERS)}") from None
