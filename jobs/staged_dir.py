"""A folder that appears whole or not at all: built inside a fresh hidden folder beside it
(`.NAME.XXXX.partial`, a name this call creates, so a folder of the user's with a likely name is
never touched), renamed into place at the end, the hidden folder removed whatever happens.
Checkpoint copies use it, from this machine (`arcctl fetch` of a local run) and from a host."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def staged_dir(target: Path, what: str, error: type[Exception]) -> Iterator[Path]:
    """Yield the path to build TARGET at; it becomes TARGET when the block ends without an error.
    Problems with TARGET's place are `error` lines naming it and `what` ("the copy")."""
    blocked = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise error(f"{target}: cannot put {what} there ({blocked} is a file)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial"))
    except OSError as e:
        raise error(f"{target}: cannot write {what} there ({e.strerror or e})") from None
    try:
        partial = tmp / target.name  # one level down: the system-ssh copier creates its destination itself
        yield partial
        try:
            partial.rename(target)
        except OSError as e:
            raise error(f"{target}: cannot write {what} there ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
