"""Schema Registry input: the client, decoding, encoding and waiting out outages."""
