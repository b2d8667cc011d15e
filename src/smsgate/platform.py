"""The running platform: the services one process shares between its API and its workers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from smsgate.config import Settings
from smsgate.delivery.connectors.simulator import ReportJournal, SimulatedSmsc
from smsgate.delivery.dispatcher import Dispatcher, DispatchSettings
from smsgate.delivery.routing import Route, Router
from smsgate.inbound.receipts import ReceiptRecorder
from smsgate.services.auth import Authenticator
from smsgate.services.order_writer import OrderWriter
from smsgate.services.sending import FloodLimit, OrderBuilder
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade


def build_router(settings: Settings) -> Router:
    simulator = SimulatedSmsc(
        ReportJournal(settings.data_dir / "simulator" / "reports.journal"),
        delay=settings.simulator_delay,
    )
    return Router({simulator.name: simulator}, [Route("", (simulator.name,))])


@dataclass
class Platform:
    settings: Settings
    database: Database
    authenticator: Authenticator
    orders: OrderBuilder
    order_writer: OrderWriter
    router: Router

    @classmethod
    def open(cls, settings: Settings) -> Platform:
        """Connect to the database named in the settings and bring its schema up to date."""
        database = Database(settings.database_url)
        upgrade(database.write_engine)
        ttl = settings.session_ttl_seconds
        return cls(
            settings=settings,
            database=database,
            authenticator=Authenticator(
                database,
                default_price=settings.default_price,
                session_ttl=timedelta(seconds=ttl) if ttl else None,
            ),
            orders=OrderBuilder(
                FloodLimit(settings.flood_limit, timedelta(seconds=settings.flood_window_seconds))
            ),
            order_writer=OrderWriter(database),
            router=build_router(settings),
        )

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(
            self.database,
            self.router,
            ReceiptRecorder(self.database),
            DispatchSettings(
                batch_size=self.settings.dispatch_batch,
                release_leases_at_start=self.database.dialect == "sqlite",
            ),
        )

    async def run_workers(self) -> None:
        """Everything the process runs besides answering requests; returns only on error."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(
                self.authenticator.watch_revisions(self.settings.cache_refresh_seconds)
            )
            tasks.create_task(self.order_writer.run())
            if self.settings.dispatch:
                dispatcher = self.dispatcher()
                self.order_writer.on_commit = dispatcher.wake
                tasks.create_task(dispatcher.run())

    def close(self) -> None:
        self.database.close()
