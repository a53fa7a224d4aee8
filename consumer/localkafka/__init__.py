"""The local Kafka platform for development, tests and the fault suite: one broker or
a three-node KRaft cluster from Maven Central jars, with TLS and SASL.

``broker`` (single node), ``cluster`` (three nodes), their files and process helpers,
``maven`` (the jars), ``tls`` (a private CA), ``bootstrap`` (where the local broker
listens), and the fault proxy in front of the cluster (``toxiproxy``: the Toxiproxy build
and its typed HTTP client; ``cluster_proxy``: one proxy per node). Blocking calls on the
caller's thread. No production pod needs it: the service never imports it (only
``consumer.commands`` and the tooling do); it may import ``kafka``.
"""
