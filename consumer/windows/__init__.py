"""The windows stage's core: each user's PAT week assembled from minute-level samples.

Local calendar days in the user's zone and the DST rule for PAT's 1,440 minutes a day
(``days``), one user-day of minutes and its compact encoding (``daystate``), the week
ending a day with its coverage and the event of each revision (``weeks``), the store
protocol and its typed view (``store``, RocksDB in ``rocks``, a write-back cache in
``cache``), samples from bytes or RADAR-base records with dead-letter reasons
(``intake``), and the logic: triggers, revisions, retention (``windower``). Pure apart
from the injected store and clock; no Kafka here (the stage that wires it onto the engine
does that). Runs on the worker's main thread. May import ``schemas``, ``intake`` and the
root modules; never the tooling packages.
"""
