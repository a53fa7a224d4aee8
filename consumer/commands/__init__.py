"""The ``moodstream`` subcommands; each module exposes ``register(subparsers)``."""

from __future__ import annotations

import re


def plain_text(rest: str) -> str:
    """reST as a terminal shows it (for ``--help``): ``:mod:`x``` -> x, double backquotes
    dropped, whitespace folded. Pure."""
    text = re.sub(r":[a-z]+:`([^`]*)`", r"\1", rest)
    return " ".join(text.replace("``", "").split())
