"""``smsgate worker``: the delivery without HTTP.

A worker runs the dispatcher and its connectors, takes delivery reports and incoming messages,
pushes them, and builds ordered reports. Any number of workers share one PostgreSQL queue (parts
are claimed with ``FOR UPDATE SKIP LOCKED``); each SMPP bind is run by one of them at a time.

The first SIGTERM (or Ctrl-C) stops claiming, lets the batches in flight be recorded and takes
delivery reports for a grace period; a second one, or the shutdown timeout, stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from smsgate.config import Settings
from smsgate.garbage_collection import collect_rarely
from smsgate.logs import configure_logging
from smsgate.platform import Platform
from smsgate.serving import interrupt_ignored

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> None:
    """Deliver until signalled."""
    log_writer = configure_logging(settings.log_format, settings.log_level, access=False)
    try:
        ended = asyncio.run(
            _deliver_until_signalled(settings.model_copy(update={"dispatch": True}))
        )
    finally:
        log_writer.stop()
    if not ended:
        os._exit(0)  # threads stuck in a database call: the interpreter would wait for ever


async def _deliver_until_signalled(settings: Settings) -> bool:
    """Deliver until signalled; whether the database's threads ended (``Database.close``)."""
    platform = Platform.open(settings)
    collect_rarely()
    stop, abort = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (abort if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    stopping = (signal.SIGTERM,) if interrupt_ignored() else (signal.SIGTERM, signal.SIGINT)
    for signal_number in stopping:
        loop.add_signal_handler(signal_number, on_signal)
    log.info("worker %s delivering", platform.identity)
    try:
        delivery = asyncio.create_task(platform.run_workers(api=False))
        signalled = asyncio.create_task(stop.wait())
        await asyncio.wait({delivery, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if delivery.done():
            signalled.cancel()
            delivery.result()  # it only ends on an error: raise it
        await platform.finish_delivery(abort)
        delivery.cancel()
        await asyncio.gather(delivery, return_exceptions=True)
        log.info("worker %s stopped", platform.identity)
    finally:
        ended = platform.close()
    return ended
