"""The stream engine: what happens to a record between poll and commit.

The poll loop (``runner``), micro-batching (``batching``, ``batch_records``), one batch
from messages to records (``pipeline``), the batches still waiting for their models
(``inflight``), publishing and committing in either guarantee (``delivery``,
``transactions``), which offsets may be committed (``offsets``) and when to pause
(``backpressure``). Runs on the worker's main thread (delivery and rebalance callbacks
too, inside ``poll``). May import ``intake``, ``ensemble``, ``kafka``, ``observability``,
``models``, ``schemas`` and the root modules; never the tooling packages.
"""
