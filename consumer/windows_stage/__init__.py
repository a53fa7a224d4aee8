"""The windows stage on Kafka (``moodstream run --stage windows``, issue 26): the logic of
``consumer.windows`` on the engine's delivery, offsets and health; its store's changelog
and restore; its metrics. See docs/windows.md."""
