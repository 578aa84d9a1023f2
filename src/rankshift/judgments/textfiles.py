"""Open a path or take an open text file: what every importer and exporter accepts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

__all__ = ["TextFile", "text_file"]

TextFile = str | os.PathLike[str] | IO[str]


@contextmanager
def text_file(file: TextFile, mode: str) -> Iterator[IO[str]]:
    """``file`` as an open text handle; closed afterwards only if it was opened here."""
    if isinstance(file, str | os.PathLike):
        # newline="" so the csv module controls line endings (it writes \r\n itself).
        with open(file, mode, encoding="utf-8", newline="") as handle:
            yield handle
    else:
        yield file
