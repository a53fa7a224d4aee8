"""Intake: message bytes to a ``FeatureEvent``, or a dead letter with its reason.

``decode`` (pure, thread-safe), ``dead_letters`` (copies that always fit),
``dead_letter_log`` (a rate-limited summary line) and ``ratelimit`` (per-key budget,
over-limit events to the overflow topic). Called from the poll loop's thread. May import
``schemas`` and the root modules only.
"""
