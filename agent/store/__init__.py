"""Local durable storage: the SQLite outbox, its files, and the sequence counter.

- :mod:`agent.store.api`: the typed contract (producers' ``EventSink``, the uplink's
  ``OutboxReader``, ``StoredEvent``/``StoredFile``/``OutboxStats``, ``DiskFullError``);
- :mod:`agent.store.outbox`: :class:`~agent.store.outbox.Outbox`, the SQLite implementation;
- :mod:`agent.store.writer`: :class:`~agent.store.writer.OutboxWriter`, group commit;
- :mod:`agent.store.migrations`, :mod:`agent.store.database`, :mod:`agent.store.files`:
  schema, opening/quarantine, crash-safe files. See docs/outbox.md.
"""
