"""The eventsourcing library's application for the ledger: its recorder is one of the ledger's stores
(`memory_recorder`, `sqlite_recorder`, `postgres_recorder`) and its mapper `storage.mapper.LedgerMapper`."""

from __future__ import annotations

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.popo import POPOFactory

from storage import breaker
from storage.mapper import LedgerMapper
from storage.memory_recorder import POPOLedgerRecorder
from storage.url import StoreConfig


class LedgerApplication(Application[str]):
    """The library application: factory, recorder and mapper for the chosen store."""

    name = "Ledger"

    def construct_mapper(self) -> Mapper[str]:
        return LedgerMapper()

    def construct_recorder(self) -> ApplicationRecorder:
        if isinstance(self.factory, POPOFactory):
            return POPOLedgerRecorder()
        return self.factory.application_recorder()


def open_application(config: StoreConfig) -> LedgerApplication:
    """Build the library application for a parsed LEDGER_DATABASE_URL (tables are created on first use)."""
    app = LedgerApplication(env=config.env)
    datastore = getattr(app.factory, "datastore", None)
    if config.kind == "postgres" and datastore is not None:
        breaker.install(datastore)  # an outage answers 503 at once instead of after each connect timeout
    return app
