"""Local durable storage: the SQLite outbox, its files, and the sequence counter.

- :mod:`agent.store.api`: the typed contract (producers' ``EventSink``, the uplink's
  ``OutboxQueue``, the read-only ``OutboxReader``, ``StoredEvent``/``StoredFile``/
  ``OutboxStats``, ``DiskFullError``, ``StorageFault``);
- :mod:`agent.store.database`: :class:`~agent.store.database.Database`, the connection, lock,
  transactions and disk reserve the outbox shares with other stores (the order journal);
- :mod:`agent.store.outbox`: :class:`~agent.store.outbox.Outbox`, the SQLite implementation;
- :mod:`agent.store.writer`: :class:`~agent.store.writer.OutboxWriter`, group commit;
- :mod:`agent.store.migrations`, :mod:`agent.store.files`: schemas, crash-safe files.
  See docs/outbox.md.
"""
