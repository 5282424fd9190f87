"""The project's one exception type for bad input files."""
from __future__ import annotations

from pathlib import Path


class InputFileError(ValueError):
    """A file could not be read as the data it claims to be.

    Attributes:
        path: the offending file (or folder).
        reason: a short, specific description of what is wrong.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


MAX_ERROR_CHARS = 500


def one_line(exc: BaseException) -> str:
    """``Type: message`` of an exception, on one line and at most :data:`MAX_ERROR_CHARS` long
    (how a refused frame's or a failed DFT frame's error is recorded)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
