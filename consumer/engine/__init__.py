"""The stream engine: what happens to a record between poll and commit.

The poll loop (``runner``; ``fetching``, ``membership`` for the partitions and rebalance
callbacks, ``loop_reports`` for health and lag), micro-batching (``batching``,
``batch_records``), one batch from messages to records (``pipeline``), the batches still
waiting for their models (``inflight``) and their per-key order (``ordering``),
publishing and committing in either guarantee (``delivery``, ``transactions``), which
offsets may be committed (``offsets``), when to hold or pause (``backpressure``) and the
one gate over pause reasons (``fetch_gate``, applied by ``flow_control``), what the loop
reports to Prometheus (``recorder``), its seams as protocols (``ports``). Runs on the
worker's main thread (delivery and rebalance callbacks too, inside ``poll``). May import
``intake``, ``ensemble``, ``kafka``, ``observability``, ``models``, ``schemas`` and the
root modules; never the tooling packages.
"""
