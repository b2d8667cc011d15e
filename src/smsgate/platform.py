"""The running platform: the services one process shares between its API and its workers."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client.registry import Collector

from smsgate.backoff import doubled
from smsgate.config import Settings
from smsgate.delivery.connector import Connector, ConnectorEvents
from smsgate.delivery.connectors.simulator import SimulatedSmsc
from smsgate.delivery.connectors.smpp import SmppConnector, smpp_router
from smsgate.delivery.dispatcher import Dispatcher, DispatchSettings
from smsgate.delivery.ownership import BINDS_LEASE, BindOwnership
from smsgate.delivery.routing import Route, Router
from smsgate.delivery.status import ConnectorGauges, publish_status
from smsgate.domain.errors import GatewayError
from smsgate.inbound.events import InboundEvents
from smsgate.inbound.pusher import Pusher, PushSettings
from smsgate.metrics import INSTRUMENTS, PARTS_ACCEPTED
from smsgate.reports.builder import BuilderSettings, ReportBuilder
from smsgate.services.auth import Authenticator
from smsgate.services.limits import LockoutPolicy, LoginThrottle, RequestRate
from smsgate.services.numbering import NumberingService
from smsgate.services.order_writer import OrderDesk
from smsgate.services.retention import keep_within_retention
from smsgate.services.sending import FloodLimit, OrderBuilder, SendOrder
from smsgate.sibling_metrics import publish_counts
from smsgate.store.database import Database
from smsgate.store.leases import Lease, LeaseCheck, LeaseLost, process_identity
from smsgate.store.migrate import open_migrated
from smsgate.store.queue_signal import QueueSignal, listen_for_queued_parts
from smsgate.store.statistics import keep_statistics
from smsgate.store.wal import keep_wal_short

log = logging.getLogger(__name__)

# Delivery stopped by an error starts again after this pause, doubled while it keeps failing
# up to the cap; one that ran longer than the cap before failing starts from the first pause.
DELIVERY_RESTART_SECONDS = 1.0
DELIVERY_RESTART_CAP = 60.0


def build_router(settings: Settings, database: Database) -> Router:
    if settings.smsc == "smpp":
        return smpp_router(settings.connectors, settings.routes)
    simulator = SimulatedSmsc(
        database,
        delay=settings.simulator_delay,
        # A report (or incoming message) of a worker that died goes to another as its bind does.
        lease=timedelta(seconds=settings.ownership_lease_seconds),
        # On SQLite one process delivers at a time (see ``Platform.run_delivery``).
        reclaim_at_start=database.dialect == "sqlite",
    )
    return Router({simulator.name: simulator}, [Route("", (simulator.name,))])


def login_throttle(settings: Settings) -> LoginThrottle:
    def policy(free: int) -> LockoutPolicy:
        base, cap = settings.login_lockout_seconds, settings.login_lockout_max_seconds
        return LockoutPolicy(free, base, cap)

    return LoginThrottle(
        policy(settings.login_failures_per_login), policy(settings.login_failures_per_address)
    )


def request_rate(settings: Settings) -> RequestRate | None:
    per_second = settings.rate_limit_per_second
    if per_second is None:
        return None
    return RequestRate(per_second, settings.rate_limit_burst or math.ceil(per_second))


@dataclass
class Platform:
    settings: Settings
    database: Database
    authenticator: Authenticator
    orders: OrderBuilder
    router: Router
    numbering: NumberingService
    dispatching: Dispatcher | None = None
    reporting: ReportBuilder | None = None

    def __post_init__(self) -> None:
        self.order_desk = OrderDesk(self.database, on_accepted=self._orders_accepted)
        self._queue_signal = QueueSignal(self.database)
        self._dispatch_task: asyncio.Task[None] | None = None
        self.identity = process_identity()

    @classmethod
    def open(cls, settings: Settings) -> Platform:
        """Connect to the database named in the settings and bring its schema up to date."""
        database = open_migrated(
            settings.database_url,
            durable=settings.durable_commits,
            lock_wait=settings.lock_wait_seconds,
            transaction_pooling=settings.database_transaction_pooling,
        )
        ttl = settings.session_ttl_seconds
        return cls(
            settings=settings,
            database=database,
            authenticator=Authenticator(
                database,
                default_price=settings.default_price,
                session_ttl=timedelta(seconds=ttl) if ttl else None,
                throttle=login_throttle(settings),
                rate=request_rate(settings),
            ),
            orders=OrderBuilder(
                FloodLimit(settings.flood_limit, timedelta(seconds=settings.flood_window_seconds))
            ),
            router=build_router(settings, database),
            numbering=NumberingService(database),
        )

    def lease(self, name: str) -> Lease:
        """A lease of this process (see ``store.leases``)."""
        ttl = timedelta(seconds=self.settings.ownership_lease_seconds)
        return Lease(self.database, name, self.identity, ttl)

    def dispatcher(
        self, events: ConnectorEvents, may_claim: LeaseCheck | None = None
    ) -> Dispatcher:
        """The dispatcher; with ``may_claim``, it claims only while that says so."""
        # The SMPP binds are run by one process at a time, whatever the number of workers.
        binds = BindOwnership(self.lease(BINDS_LEASE))
        connectors: dict[str, Connector] = {
            name: binds.exclusive(connector) if isinstance(connector, SmppConnector) else connector
            for name, connector in self.router.connectors.items()
        }
        return Dispatcher(
            self.database,
            self.router.through(connectors),
            events,
            DispatchSettings(
                batch_size=self.settings.dispatch_batch,
                lease=timedelta(seconds=self.settings.dispatch_lease_seconds),
                release_leases_at_start=self.database.dialect == "sqlite",
                may_claim=may_claim,
            ),
        )

    def pusher(self, may_claim: LeaseCheck | None = None) -> Pusher:
        return Pusher(
            self.database,
            PushSettings(
                concurrency=self.settings.push_concurrency,
                per_account=self.settings.push_concurrency_per_account,
                retry_base=self.settings.push_retry_base_seconds,
                lease=timedelta(seconds=self.settings.push_lease_seconds),
                # An attempt ends well before its lease lapses, so no other worker repeats it.
                attempt_timeout=min(30.0, self.settings.push_lease_seconds / 2),
                release_leases_at_start=self.database.dialect == "sqlite",
                private_addresses=self.settings.push_private_addresses,
                may_claim=may_claim,
            ),
        )

    def report_builder(self, may_claim: LeaseCheck | None = None) -> ReportBuilder:
        return ReportBuilder(
            self.database,
            BuilderSettings(
                reports_dir=self.settings.reports_folder,
                retention=timedelta(seconds=self.settings.report_retention_seconds),
                builders=self.settings.report_builders,
                lease=timedelta(seconds=self.settings.report_lease_seconds),
                start_delay=self.settings.report_start_delay_seconds,
                sweep_interval=self.settings.report_sweep_seconds,
                release_leases_at_start=self.database.dialect == "sqlite",
                may_claim=may_claim,
            ),
        )

    def own_metrics(self) -> tuple[Collector, ...]:
        """What this process counts, and the connectors it runs, for ``/metrics``."""
        return (*INSTRUMENTS, ConnectorGauges(self._running_connectors))

    def _running_connectors(self) -> Mapping[str, Connector]:
        return self.dispatching.connectors if self.dispatching is not None else {}

    async def run_workers(self, *, api: bool = True) -> None:
        """Everything the process runs besides answering requests: the API's cache upkeep
        (with ``api``) and, unless dispatching is off, the delivery. Returns only on error."""
        async with asyncio.TaskGroup() as tasks:
            # For the /metrics of whichever process a scrape reaches (see sibling_metrics).
            tasks.create_task(publish_counts(self.own_metrics(), self.settings.data_dir))
            if api:
                refresh = self.settings.cache_refresh_seconds
                tasks.create_task(self.authenticator.watch_revisions(refresh))
                tasks.create_task(self.numbering.watch(refresh))
            if self.settings.dispatch:
                tasks.create_task(self.run_delivery())

    async def run_delivery(self) -> None:
        """Dispatch, receive, push and build reports until cancelled; started again after an
        error that stopped them (a database that failed as they started, say), after a pause
        that doubles while they keep failing.

        On SQLite the leases of parts, pushes and reports are released at start, so a crash is
        recovered at once instead of when they lapse; that is only right while one process
        delivers, so there the delivery itself is leased (a second worker stands by).
        """
        lease = self.lease("delivery") if self.database.dialect == "sqlite" else None
        failures = 0
        while True:
            started = time.monotonic()
            attempt = asyncio.create_task(self._deliver_holding(lease))
            try:
                # Waited for, not awaited: a stop cancels this task itself. Awaited, its
                # cancellation went through the attempt's TaskGroups, and Python 3.11's can drop
                # one that comes as a task of theirs fails: delivery then went on restarting.
                await asyncio.wait([attempt])
            except asyncio.CancelledError:
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
                raise
            error = attempt.exception()
            if isinstance(error, LeaseLost):
                log.error("the delivery lease was lost: delivery stopped; standing by")
                continue
            failures = 1 if time.monotonic() - started > DELIVERY_RESTART_CAP else failures + 1
            pause = doubled(DELIVERY_RESTART_SECONDS, failures - 1, DELIVERY_RESTART_CAP)
            log.error(
                "delivery stopped on an error: starting it again in %.0f s", pause, exc_info=error
            )
            await asyncio.sleep(pause)

    async def _deliver_holding(self, lease: Lease | None) -> None:
        if lease is None:
            await self._deliver(None)
            return
        async with lease.hold():
            await self._deliver(lease)

    async def _deliver(self, lease: Lease | None) -> None:
        async with asyncio.TaskGroup() as tasks:
            # On SQLite they claim only while this process holds the delivery's lease: one
            # stalled past its lapse would otherwise wake to claim before it learns so.
            may_claim = lease.held_in if lease is not None else None
            self.reporting = self.report_builder(may_claim)
            tasks.create_task(self.reporting.run())
            pusher = self.pusher(may_claim)
            inbound = InboundEvents(self.database, pusher)
            self.dispatching = self.dispatcher(inbound, may_claim)
            self._dispatch_task = tasks.create_task(self.dispatching.run())
            tasks.create_task(pusher.run())
            tasks.create_task(inbound.messages.join_stale())
            tasks.create_task(publish_status(self.dispatching.connectors, self.settings.data_dir))
            tasks.create_task(keep_statistics(self.database))
            tasks.create_task(keep_wal_short(self.database))
            retention = self.settings.retention_days
            tasks.create_task(
                keep_within_retention(
                    self.database, timedelta(days=retention) if retention is not None else None
                )
            )
            listen_url = self._listen_url()
            if listen_url is not None:
                tasks.create_task(listen_for_queued_parts(listen_url, self.dispatching.wake))

    def _listen_url(self) -> str | None:
        """Where the dispatcher hears of parts queued by other processes (PostgreSQL); None
        when its poll alone finds them."""
        if self.database.dialect != "postgresql":
            return None
        if self.settings.database_listen_url is not None:
            return self.settings.database_listen_url
        if self.database.transaction_pooling:
            log.info(
                "queued parts are found by the dispatcher's poll: a transaction pooler loses "
                "notifications, and no database_listen_url names PostgreSQL itself"
            )
            return None
        return self.database.url

    async def accept(self, order: SendOrder) -> list[int]:
        """Bill and queue ``order``; the ids of its parts, in order. Code 8 (and nothing
        billed) when a destination has no route: no connector could ever take it."""
        for message in order.messages:
            if not self.router.has_route(message.destination):
                raise GatewayError(f"No route to {message.destination}")
        part_ids = await self.order_desk.accept(order)
        PARTS_ACCEPTED.inc(len(part_ids))
        return part_ids

    @property
    def dispatcher_running(self) -> bool:
        return self._dispatch_task is not None and not self._dispatch_task.done()

    async def finish_delivery(self, abort: asyncio.Event) -> None:
        """Graceful stop: the dispatcher claims nothing more, finishes its batches in flight and
        takes delivery reports for up to ``report_grace_seconds``; cut short when ``abort`` is
        set or the shutdown timeout passes."""
        if self.dispatching is None or not self.dispatcher_running:
            return
        finish = asyncio.create_task(self.dispatching.finish(self.settings.report_grace_seconds))
        aborted = asyncio.create_task(abort.wait())
        done, _ = await asyncio.wait(
            {finish, aborted},
            timeout=self.settings.shutdown_timeout_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        finish.cancel()
        aborted.cancel()
        if finish not in done:
            why = "a second signal" if aborted in done else "the shutdown timeout"
            log.warning("shutdown cut short by %s: the dispatcher stops at once", why)
        elif finish.exception() is not None:
            log.error("finishing the dispatcher failed", exc_info=finish.exception())
        else:
            log.info("the dispatcher finished its work in flight")

    def report_ordered(self) -> None:
        if self.reporting is not None:
            self.reporting.wake()

    def _orders_accepted(self) -> None:
        if self.dispatching is not None:
            self.dispatching.wake()
        elif self.database.dialect == "postgresql":
            self._queue_signal.parts_queued()

    def close(self) -> bool:
        """Close the database; whether its threads ended (``Database.close``)."""
        return self.database.close()
