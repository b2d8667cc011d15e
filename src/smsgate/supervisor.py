"""``smsgate serve --workers N``: N API processes and one worker process under a supervisor.

The supervisor brings the schema up to date once, binds the listening sockets and hands them
to N API processes (the kernel spreads connections between them: ``bind_listeners``), plus one
worker process (``smsgate worker``) that delivers, unless dispatching is off. A child that
dies is started again. The first SIGTERM or Ctrl-C is passed on to every child, which then
stops gracefully; a second one is passed on too, and makes them stop at once.

Children are spawned (not forked): each starts with fresh threads, engines and event loops.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from smsgate.config import Settings
from smsgate.logs import configure_logging
from smsgate.serving import (
    STARTUP_FAILURE,
    leave_interrupts_to_the_supervisor,
    listener_ports,
    serve,
)
from smsgate.store.migrate import open_migrated
from smsgate.worker import run_worker

log = logging.getLogger(__name__)

# A child that dies sooner than this after its start is restarted only after this long, so a
# child that cannot start (say, its database is down) does not spin.
RESTART_BACKOFF_SECONDS = 1.0
PARENT_WATCH_SECONDS = 0.5
LISTEN_BACKLOG = 2048  # uvicorn's default


@dataclass
class Child:
    """One supervised process and how to start it again."""

    name: str
    target: Callable[..., None]
    args: tuple[object, ...]
    process: BaseProcess | None = None
    started_at: float = field(default=0.0)
    # Whether this process was passed a stopping signal.
    signalled: bool = False

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=_child_main, args=(self.target, self.args, os.getpid()), name=self.name
        )
        self.signalled = False
        process.start()
        self.process = process
        self.started_at = time.monotonic()
        log.info("started %s (pid %s)", self.name, self.process.pid)

    def stop(self) -> None:
        """Pass on a stopping signal (SIGTERM), if the process runs."""
        if self.process is not None and self.process.is_alive():
            os.kill(self.process.pid or 0, signal.SIGTERM)
            self.signalled = True


def supervise(settings: Settings) -> None:
    """Run ``settings.workers`` API processes and a worker until signalled."""
    log_writer = configure_logging(settings.log_format, settings.log_level, access=False)
    try:
        _supervise(settings)
    finally:
        log_writer.stop()


def _supervise(settings: Settings) -> None:
    open_migrated(
        settings.database_url,
        durable=settings.durable_commits,
        lock_wait=settings.lock_wait_seconds,
        transaction_pooling=settings.database_transaction_pooling,
    ).close()
    api_sockets, shared_sockets = bind_listeners(settings, settings.workers)
    api_settings = settings.model_copy(update={"dispatch": False})
    children = [
        Child(f"smsgate-api-{number}", serve, (api_settings, [api_socket, *shared_sockets]))
        for number, api_socket in enumerate(api_sockets, start=1)
    ]
    if settings.dispatch:
        children.append(Child("smsgate-worker", run_worker, (settings,)))

    def stop_listening() -> None:
        for bound in {*api_sockets, *shared_sockets}:
            bound.close()

    try:
        supervise_children(children, stop_listening)
    finally:
        stop_listening()


def supervise_children(
    children: Sequence[Child], stop_listening: Callable[[], None] | None = None
) -> None:
    """Start ``children``, start again each that dies, until SIGTERM or SIGINT; pass each
    signal on to every child and return once all have ended.

    ``stop_listening`` closes this process's copies of the listening sockets at the first
    signal: while any copy is open the kernel takes new connections in, which the stopping
    children never accept and which are reset once the last copy closes, after the drain.
    Closed, a new connection is refused at once, and a client or load balancer goes elsewhere.
    """
    signals: list[int] = []
    starting = False

    def close_listeners() -> None:
        if stop_listening is not None:
            stop_listening()

    def on_signal(signal_number: int, _frame: FrameType | None) -> None:
        signals.append(signal_number)
        for child in children:
            child.stop()
        if not starting:  # else once the child starting has taken its sockets
            close_listeners()

    def start(child: Child) -> None:
        nonlocal starting
        starting = True
        try:
            child.start()
        finally:
            starting = False
        if signals:
            # A signal that came while it started found no process to pass it on to.
            if not child.signalled:
                child.stop()
            close_listeners()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for child in children:
        if signals:
            break
        start(child)
    while True:
        running = [child for child in children if child.process is not None]
        if not running:
            break
        wait([child.process.sentinel for child in running if child.process], timeout=1.0)
        for child in running:
            assert child.process is not None
            if child.process.is_alive():
                continue
            code = child.process.exitcode
            child.process = None
            if signals:
                continue
            log.error("%s exited with status %s: starting it again", child.name, code)
            if time.monotonic() - child.started_at < RESTART_BACKOFF_SECONDS:
                time.sleep(RESTART_BACKOFF_SECONDS)
                if signals:  # came during the pause: stopping, not starting
                    continue
            start(child)


def bind_listeners(
    settings: Settings, api_processes: int
) -> tuple[list[socket.socket], list[socket.socket]]:
    """The listening sockets: one of the API port per API process, then one of each other
    listener of ``serve`` (in its order) for all of them; exit 3 when one fails.

    Where the system allows it (SO_REUSEPORT), each API process has a socket of its own on the
    port and the kernel spreads new connections evenly between them. From one shared socket,
    whichever process wakes first takes a burst of connections, and keep-alive clients stay
    where they landed: measured 93% of the requests on one of two processes. The supervisor
    keeps every socket open, so connections that arrive while a process restarts wait for it.
    """
    api_port, *other_ports = listener_ports(settings)
    copies = api_processes if hasattr(socket, "SO_REUSEPORT") else 1
    if copies > 1 and api_port:
        # A port shared by SO_REUSEPORT admits any other process of this user that asks the
        # same: a second smsgate started on the port by mistake would silently take half of
        # the connections. Binding it alone first fails then, as it does without sharing.
        _bound(settings.host, api_port).close()
    api_sockets = [_listen(settings.host, api_port, reuse_port=copies > 1)]
    # A port chosen by the system (0) is the first socket's for the others.
    bound_port = api_sockets[0].getsockname()[1]
    api_sockets += [_listen(settings.host, bound_port, reuse_port=True) for _ in range(copies - 1)]
    if copies < api_processes:
        api_sockets *= api_processes
    return api_sockets, [_listen(settings.host, port) for port in other_ports]


def _listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    listening = _bound(host, port, reuse_port=reuse_port)
    listening.listen(LISTEN_BACKLOG)
    listening.set_inheritable(True)
    return listening


def _bound(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host``:``port``; exit 3 when that fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound = socket.socket(family, socket.SOCK_STREAM)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        bound.bind((host, port))
    except OSError as error:
        bound.close()
        log.error("cannot listen on %s port %s: %s", host, port, error.strerror)
        sys.exit(STARTUP_FAILURE)
    return bound


def _child_main(target: Callable[..., None], args: Sequence[object], parent: int) -> None:
    # Ctrl-C reaches the whole process group: only the supervisor acts on it, so that a child
    # sees one SIGTERM per signal rather than two (ignored until its own handlers are in place).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    leave_interrupts_to_the_supervisor()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    target(*args)


def _exit_with_parent(parent: int) -> None:
    """A child outliving a killed supervisor would hold the port: stop gracefully then."""
    while os.getppid() == parent:
        time.sleep(PARENT_WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
