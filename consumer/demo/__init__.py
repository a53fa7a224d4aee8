"""``moodstream demo``'s parts: the live view and the child processes it runs.

``view`` (counters from the output topics and the service's ``/metrics``) and ``procs``
(children that never outlive the demo). Runs in the demo command's process. Tooling:
the service never imports it.
"""
