"""Schema Registry input: registry-framed records (Avro, Protobuf, JSON Schema) to the
same ``FeatureEvent`` the JSON intake gives, with confluent-kafka's own deserializers.

``client`` (the registry client from the settings), ``decoding`` (one batch's schema ids
looked up once, then per record deserialise and hand to ``intake.decode``), ``encoding``
(the reference producer's serializers), ``wait`` (holding a batch while the registry
does not answer), ``output_encoding`` (predictions, alerts and windowed events in
``PROCESSING__OUTPUT_FORMAT``) and ``apicurio`` (compatibility NONE on Protobuf output
subjects). Called from the poll loop's thread. May import ``intake``, ``schemas``
and the root modules; never the tooling packages.
"""
