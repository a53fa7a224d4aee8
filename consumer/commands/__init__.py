"""The ``moodstream`` subcommands, the CLI edge: each module exposes ``register(subparsers)``
and imports what its command needs inside its handler; ``bootstrap_for`` finds the cluster.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consumer.settings import Settings


def plain_text(rest: str) -> str:
    """reST as a terminal shows it (for ``--help``): ``:mod:`x``` -> x, double backquotes
    dropped, whitespace folded. Pure."""
    text = re.sub(r":[a-z]+:`([^`]*)`", r"\1", rest)
    return " ".join(text.replace("``", "").split())


def bootstrap_for(settings: Settings) -> str:
    """The cluster a command talks to: ``KAFKA__BOOTSTRAP_SERVERS``, else the running local
    broker. The local tooling is imported only in the second case, so a service pointed at
    a cluster never loads it. Does not block; raises BrokerError when nothing is configured
    and the local broker is not running."""
    configured = settings.kafka.bootstrap_servers.strip()
    if configured:
        return configured
    from consumer.localkafka.bootstrap import local_bootstrap

    return local_bootstrap(settings)
