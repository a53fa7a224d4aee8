"""The production client layer over confluent-kafka: configs, clients, admin, lag, redrive.

``config`` (the librdkafka base config with secrets masked), ``clients`` (the consumer and
producer the service runs with), ``admin`` (reachability, topics, SCRAM), ``topics_plan``
(replication), ``lag`` (the group's lag) and ``redrive`` (dead letters back to the input).
Thin and blocking on the caller's thread. May import ``settings``, ``errors`` and
``logs``; never the local-broker tooling.
"""
