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
