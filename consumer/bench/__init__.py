"""``moodstream bench``: throughput, latency and memory against the limits and the old design.

One run, against the real broker, on fresh uniquely named topics (deleted at the end):

* :mod:`consumer.bench.limits`: what the parts allow alone (Kafka passthrough, the models
  on in-memory batches, decoding), run with the baseline in a spawned child by
  :mod:`consumer.bench.parts`;
* :mod:`consumer.bench.endtoend`: ``moodstream run`` as a subprocess: drain throughput,
  latency under a paced load, PSS of the supervisor's workers;
* :mod:`consumer.bench.baseline`: the per-request design it replaces;
* :mod:`consumer.bench.report`: the pure parts (percentiles, limits, ratios, targets, the
  JSON shape); :mod:`consumer.bench.text`: the Markdown tables; :mod:`consumer.bench.plot`:
  the PNG.

Nothing here runs at import; the orchestration is :func:`consumer.bench.suite.run_suite`.
"""
