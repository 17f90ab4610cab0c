"""Text from outside made safe for one-line records: logs and the audit trail."""

from __future__ import annotations

import unicodedata


def printable(value: str) -> str:
    """The text with control and format characters (newlines, ANSI escapes, bidi overrides) and backslashes escaped."""
    if value.isprintable() and "\\" not in value:
        return value
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if ch == "\\" or unicodedata.category(ch)[0] == "C" else ch
        for ch in value
    )
