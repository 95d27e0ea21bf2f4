"""Local durable storage: the SQLite outbox, its files, and the sequence counter."""
