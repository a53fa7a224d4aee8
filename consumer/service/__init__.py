"""The process model: the supervisor, its forked workers, and the composition root.

``supervisor`` (forks N workers after the models are loaded, restarts crashed ones,
serves ``/metrics`` ``/healthz`` ``/readyz``; the supervisor process's main thread),
``worker`` (one worker process: its clients, warm-up and the loop) and ``wiring`` (the
only place that builds clients, pools, models and metrics). May import every service
package; never the tooling packages.
"""
