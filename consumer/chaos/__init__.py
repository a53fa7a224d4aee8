"""The fault suite behind ``moodstream chaos``: a paced producer and a 2-worker service on
the local three-node cluster, broker faults injected one after another, every event_id
accounted for at the end.

Parts: ``accounting`` (pure: per-fault counts from what was produced and read),
``traffic`` (the producer and the read_committed prediction reader, threads),
``faults`` (what each fault does to the cluster), ``suite`` (one run end to end),
``report`` (the table).
"""
