"""The access ledger's domain: events, aggregates, rules and decisions. No I/O here."""
