"""Storage: the eventsourcing library's recorders for memory, SQLite and PostgreSQL, and the ledger service."""
