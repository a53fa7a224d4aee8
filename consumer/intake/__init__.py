"""Intake: message bytes to a ``FeatureEvent``, or a dead letter with its reason.

``reader`` (which decoder reads a message, its dead letter and the poison-flood count:
what the engine's pipeline calls), ``decode`` (pure, thread-safe) with its
``fast_path``, ``dead_letters`` (copies that always fit), ``dead_letter_log`` (a
rate-limited summary line) and ``ratelimit`` (per-key budget, over-limit events to the
overflow topic). Called from the poll loop's thread. May import ``schemas`` and the root
modules only (a registry decoder is passed in, typed by a protocol).
"""
