"""Plain-text tables for the CLI's human output (``lag``, ``acls``, ``topics plan``)."""

from __future__ import annotations

from collections.abc import Sequence


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """The rows (the first is the header) as lines, each column left-aligned to its widest
    cell, two spaces between columns, no trailing spaces. Raises ValueError when the rows
    differ in length."""
    if len({len(row) for row in rows}) > 1:
        raise ValueError("every row of a table needs as many cells as its header")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
