"""The ensemble: every model in its own lane, admitted by cost, answered on time.

``scoring`` (the ensemble over a batch), ``lanes`` (one model, its single-thread pool and
deadline; ``lane_queue`` the pure queue in front of it, ``lane_calls`` its calls, ``pools``
what it asks of its pool), ``admission`` (how much work a lane may hold, from its measured speed),
``model_runs``, ``model_inputs``, and ``outputs`` (model runs to ``Prediction`` and
``Alert``). Driven from the poll loop's thread; only the model calls run on the lanes'
pool threads. May import ``models``, ``schemas`` and the root modules.
"""
