"""The peer apps of ``moodstream bench --peers``: the same plain scoring job written the
idiomatic way in Arroyo (``arroyo_app.py``) and Quix Streams (``quix_app.py``).

They are standalone scripts run with each peer's own pinned virtual environment (see
:mod:`consumer.bench.peer_venv`); they import no moodstream code (that environment lacks
its dependencies), only their sibling ``peer_common.py`` and their framework.
"""
