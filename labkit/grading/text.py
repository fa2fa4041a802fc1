"""Details as the reports show them: one clean line, at most :data:`DETAIL_LIMIT` characters."""

from __future__ import annotations

import re

DETAIL_LIMIT = 400  # characters of detail kept per grade
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """A message as one clean line: no colour codes or control characters, at most ``limit`` characters."""
    text = _ANSI.sub("", str(text))
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
