"""The reference upstream producer (``moodstream produce``): synthetic events and
events read from JSON lines, validated before they are sent.

``synthetic_events`` (plausible, reproducible ``FeatureEvent``s) and ``event_lines``
(``--from FILE|-``). Runs in the producing command's thread. Tooling: the service never
imports it; it may import ``schemas``, ``intake`` and ``models.synthetic``.
"""
