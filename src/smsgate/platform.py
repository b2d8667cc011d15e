"""The running platform: the services one process shares between its API and its workers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from smsgate.config import Settings
from smsgate.delivery.connector import ConnectorEvents
from smsgate.delivery.connectors.simulator import ReportJournal, SimulatedSmsc, simulator_inbox
from smsgate.delivery.connectors.smpp import smpp_router
from smsgate.delivery.connectors.status import publish_status, status_path
from smsgate.delivery.dispatcher import Dispatcher, DispatchSettings
from smsgate.delivery.routing import Route, Router
from smsgate.inbound.events import InboundEvents
from smsgate.inbound.pusher import Pusher, PushSettings
from smsgate.services.auth import Authenticator
from smsgate.services.numbering import NumberingService
from smsgate.services.order_writer import OrderDesk
from smsgate.services.sending import FloodLimit, OrderBuilder, SendOrder
from smsgate.store.database import Database
from smsgate.store.migrate import upgrade


def build_router(settings: Settings) -> Router:
    if settings.smsc == "smpp":
        return smpp_router(settings.connectors, settings.routes)
    simulator = SimulatedSmsc(
        ReportJournal(settings.data_dir / "simulator" / "reports.journal"),
        delay=settings.simulator_delay,
        inbox=simulator_inbox(settings.data_dir),
    )
    return Router({simulator.name: simulator}, [Route("", (simulator.name,))])


@dataclass
class Platform:
    settings: Settings
    database: Database
    authenticator: Authenticator
    orders: OrderBuilder
    router: Router
    numbering: NumberingService
    dispatching: Dispatcher | None = None

    def __post_init__(self) -> None:
        self.order_desk = OrderDesk(self.database, on_accepted=self._orders_accepted)

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
            router=build_router(settings),
            numbering=NumberingService(database),
        )

    def dispatcher(self, events: ConnectorEvents) -> Dispatcher:
        return Dispatcher(
            self.database,
            self.router,
            events,
            DispatchSettings(
                batch_size=self.settings.dispatch_batch,
                release_leases_at_start=self.database.dialect == "sqlite",
            ),
        )

    def pusher(self) -> Pusher:
        return Pusher(
            self.database,
            PushSettings(
                concurrency=self.settings.push_concurrency,
                per_account=self.settings.push_concurrency_per_account,
                retry_base=self.settings.push_retry_base_seconds,
                release_leases_at_start=self.database.dialect == "sqlite",
            ),
        )

    async def run_workers(self) -> None:
        """Everything the process runs besides answering requests; returns only on error."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(
                self.authenticator.watch_revisions(self.settings.cache_refresh_seconds)
            )
            tasks.create_task(self.numbering.watch(self.settings.cache_refresh_seconds))
            if self.settings.dispatch:
                pusher = self.pusher()
                self.dispatching = self.dispatcher(InboundEvents(self.database, pusher))
                tasks.create_task(self.dispatching.run())
                tasks.create_task(pusher.run())
                tasks.create_task(
                    publish_status(self.router.connectors, status_path(self.settings.data_dir))
                )

    async def accept(self, order: SendOrder) -> list[int]:
        """Bill and queue ``order``; the ids of its parts, in order."""
        return await self.order_desk.accept(order)

    def _orders_accepted(self) -> None:
        if self.dispatching is not None:
            self.dispatching.wake()

    def close(self) -> None:
        self.database.close()
