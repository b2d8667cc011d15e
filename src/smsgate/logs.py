"""Structured logs: ``key=value`` or JSON lines, written by a thread of their own.

Records go through a queue to a listener thread that formats and writes them, so the event loop
never waits on a terminal, a pipe or a disk. The listener takes records in bursts and writes
each burst at once: logging a record never has to wake a thread, and the GIL changes hands a
few times a second rather than for every line (per line, that cost more than the request).

A request's line skips ``logging`` altogether: its time and fields go onto the same queue as a
tuple (``AccessLog``), and the listener formats it from a template built once. A LogRecord and
the handler chain cost more than the rest of a Balance request.

Text that comes from outside is scrubbed of secrets before it is written: whatever follows a
password, ``pass`` or session id parameter name, and anything shaped like a session id (32 hex
digits), wherever it appears (a message, a path, a traceback).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Literal

import orjson

from smsgate.store.outage import unavailable

LogFormat = Literal["kv", "json"]

ACCESS_LOGGER = "smsgate.access"
ACCESS_FIELDS = ("request_id", "method", "path", "endpoint", "code", "status", "ms", "client")
# The message of a request's record when it does go through ``logging`` (see ``AccessLog``).
ACCESS_FORMAT = " ".join(f"{name}=%s" for name in ACCESS_FIELDS)
# How long the listener lets entries gather behind the one that ended its wait for work.
WRITE_INTERVAL = 0.05
# At most this many entries are written at once (a bound on the lines held in memory).
MAX_BURST = 10_000
# At most this many entries wait for the listener. Past it, while stderr is not read (a log
# driver stalled, a pipe paused), entries are dropped and counted: held, they grew the process
# by 440 bytes a request until it ran out of memory.
MAX_QUEUED = 50_000
WRITE_BUFFER = 1 << 16
# A failure for want of the database is logged at most this often per message (``OutageDigest``).
OUTAGE_LOG_INTERVAL = 10.0

access_log = logging.getLogger(ACCESS_LOGGER)

# Fields whose text comes from outside (a client, an exception): scrubbed and, in key=value
# lines, quoted when need be. The others are the server's own words and numbers.
FREE_TEXT = frozenset({"msg", "exc", "path", "client"})
REDACTED = "***"
# A secret's value: quoted, up to its closing quote; else up to the next parameter or the end
# of the line, since a password may hold spaces, commas, semicolons and quotes ("pass=a b;c"
# kept " b;c"). Its "=" may come percent-encoded, from a path a client encoded twice, and so
# may what comes before its name ("%26password"): no word boundary there.
_SECRET_PARAMETER = re.compile(
    r"(?i)(?<![a-z_])(password|pass|api_password|sessionid|session_id|secret)"
    r"([\"']?\s*(?:[:=]|%3d)\s*)"
    r"(?:([\"'])(?:(?!\3).)*|[^&\r\n]+)"
)
SESSION_ID_LENGTH = 32
# 32 hex digits not inside a longer run of them (a SHA-256 digest is 64): after a letter too.
_SESSION_ID = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32}(?![0-9A-Fa-f])")
# A key=value value is written bare only when it is made of these.
_BARE = re.compile(r"[\w.:/@+\-\[\]]+")

# A request's line: (the time it was logged, the values of ACCESS_FIELDS).
AccessEntry = tuple[float, tuple[object, ...]]
# What the listener's queue carries, in the order it was logged.
LogEntry = logging.LogRecord | AccessEntry
# Where the free text sits among the access fields, and a key=value line with their slots.
_ACCESS_FREE = tuple(index for index, name in enumerate(ACCESS_FIELDS) if name in FREE_TEXT)
_ACCESS_KV = f"ts=%s level=%s logger={ACCESS_LOGGER} {ACCESS_FORMAT}"


def _redacted_parameter(match: re.Match[str]) -> str:
    return f"{match[1]}{match[2]}{match[3] or ''}{REDACTED}"


def redact(text: str) -> str:
    """``text`` without secret parameter values or session ids."""
    # The cheap tests first: most text (a path, an address) can hold neither.
    if "=" in text or ":" in text or "%" in text:
        text = _SECRET_PARAMETER.sub(_redacted_parameter, text)
    if len(text) >= SESSION_ID_LENGTH:
        text = _SESSION_ID.sub(REDACTED, text)
    return text


def _scrubbed(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


def record_fields(record: logging.LogRecord, exception: str | None) -> dict[str, object]:
    """What a line of a record other than a request's shows: time, level, logger and message;
    the free text scrubbed."""
    fields: dict[str, object] = {
        "ts": timestamp(record.created),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    if exception:
        fields["exc"] = exception
    for name in FREE_TEXT:
        if name in fields:
            fields[name] = _scrubbed(fields[name])
    return fields


_second: tuple[int, str] = (-1, "")
_millisecond: tuple[int, str] = (-1, "")


def timestamp(created: float) -> str:
    """``2025-01-31T12:00:00.123Z``; the text of a millisecond is reused for all its lines, that
    of a second for all its milliseconds."""
    global _second, _millisecond
    millis = int(created * 1000)
    if _millisecond[0] != millis:
        second, fraction = divmod(millis, 1000)
        if _second[0] != second:
            _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        _millisecond = (millis, f"{_second[1]}.{fraction:03d}Z")
    return _millisecond[1]


def kv_line(fields: dict[str, object]) -> str:
    return " ".join(
        [
            f"{name}={_quoted(value) if name in FREE_TEXT else value}"
            for name, value in fields.items()
        ]
    )


def _quoted(value: object) -> str:
    text = "-" if value is None else str(value)
    return text if _BARE.fullmatch(text) else orjson.dumps(text).decode()


# Clients repeat their paths and addresses: each is scrubbed and quoted once.
_free_text_values: dict[object, str] = {}
REMEMBERED_VALUES = 4096


def _free_text_value(value: object) -> str:
    """``value`` of a request's free-text field as a key=value line writes it."""
    shown = _free_text_values.get(value)
    if shown is None:
        shown = _quoted(_scrubbed(value))
        if len(_free_text_values) < REMEMBERED_VALUES:
            _free_text_values[value] = shown
    return shown


def _json_line(fields: dict[str, object]) -> str:
    return orjson.dumps(fields, default=str).decode()


class LineFormatter(logging.Formatter):
    """One line per record, ``key=value`` pairs or a JSON object."""

    def __init__(self, style: LogFormat) -> None:
        super().__init__()
        self.style = style

    def format(self, record: logging.LogRecord) -> str:
        if record.msg is ACCESS_FORMAT and isinstance(record.args, tuple) and not record.exc_info:
            return self.access_line(record.created, record.args, record.levelname.lower())
        exception = self.formatException(record.exc_info) if record.exc_info else None
        fields = record_fields(record, exception)
        return _json_line(fields) if self.style == "json" else kv_line(fields)

    def access_line(self, created: float, values: tuple[object, ...], level: str = "info") -> str:
        """A request's line from its ACCESS_FIELDS values."""
        shown = list(values)
        if self.style == "json":
            for index in _ACCESS_FREE:
                shown[index] = _scrubbed(shown[index])
            fields: dict[str, object] = {
                "ts": timestamp(created),
                "level": level,
                "logger": ACCESS_LOGGER,
            }
            fields.update(zip(ACCESS_FIELDS, shown, strict=True))
            return _json_line(fields)
        for index in _ACCESS_FREE:
            shown[index] = _free_text_value(shown[index])
        return _ACCESS_KV % (timestamp(created), level, *shown)


class LogQueue:
    """What waits for the listener, in the order it was logged, ``MAX_QUEUED`` entries at
    most: past that an entry is dropped and counted in ``dropped``. None is the mark to stop."""

    __slots__ = ("_entries", "dropped")

    def __init__(self) -> None:
        self._entries: queue.SimpleQueue[LogEntry | None] = queue.SimpleQueue()
        self.dropped = 0

    def put_nowait(self, entry: LogEntry) -> None:
        if self._entries.qsize() < MAX_QUEUED:
            self._entries.put(entry)
        else:
            self.dropped += 1

    def put_stop(self) -> None:
        self._entries.put(None)

    def get_nowait(self) -> LogEntry | None:
        return self._entries.get_nowait()

    def get(self) -> LogEntry | None:
        """The next entry, waiting for one."""
        return self._entries.get()


class AccessLog:
    """Writes one line per API request.

    Once ``configure_logging`` runs, the line's values go straight onto the listener's queue;
    until then (an app inside another program, tests) they are a record of the
    ``smsgate.access`` logger, for whatever handlers are there.
    """

    def __init__(self) -> None:
        # The listener's queue, set by ``configure_logging`` when request lines are on.
        self.entries: LogQueue | None = None

    def write(self, values: tuple[object, ...]) -> None:
        """Log a request: ``values`` are those of ACCESS_FIELDS."""
        if self.entries is not None:
            self.entries.put_nowait((time.time(), values))
        elif access_log.isEnabledFor(logging.INFO):
            access_log.info(ACCESS_FORMAT, *values)


access_lines = AccessLog()


class OutageDigest(logging.Filter):
    """While the database cannot serve, every request and every poll fails alike, each with a
    traceback of kilobytes. Such a failure is logged without it (the database's reason
    instead), and each message at most once per ``interval`` seconds, saying how many like it
    were left out."""

    def __init__(
        self, reason: Callable[[BaseException], str | None], interval: float = OUTAGE_LOG_INTERVAL
    ) -> None:
        super().__init__()
        self.reason = reason
        self.interval = interval
        self._lock = threading.Lock()
        # By logger and message template: when last logged, and how many left out since.
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        reason = self.reason(error) if error is not None else None
        if reason is None:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            logged_at, left_out = self._logged.get(key, (-self.interval, 0))
            if now - logged_at < self.interval:
                self._logged[key] = (logged_at, left_out + 1)
                return False
            self._logged[key] = (now, 0)
        since = f" ({left_out} more like it since the last)" if left_out else ""
        record.msg = f"{record.getMessage()}: the database is unavailable: {reason}{since}"
        record.args = None
        record.exc_info = record.exc_text = None
        return True


class _Handoff(logging.Handler):
    """Queues records as they are: formatting them is the listener thread's work."""

    def __init__(self, entries: LogQueue) -> None:
        super().__init__()
        self.entries = entries

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.put_nowait(record)


class _BufferedWriter(logging.StreamHandler[IO[str]]):
    """Writes lines into a buffer; the listener flushes it once per burst."""

    def __init__(self, stream: IO[str], formatter: LineFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        self.line_formatter = formatter

    def flush(self) -> None:
        """Called after every line by ``emit``: the burst is flushed by ``flush_burst``."""

    def flush_burst(self) -> None:
        super().flush()

    def write_burst(self, entries: list[LogEntry | None]) -> bool:
        """Write what was queued, in its order, request lines joined into one write; False
        once the stop mark (None) is met."""
        lines: list[str] = []
        access_line = self.line_formatter.access_line
        for entry in entries:
            if entry is None:
                self._write_lines(lines)
                return False
            if isinstance(entry, logging.LogRecord):
                self._write_lines(lines)
                lines = []
                self.handle(entry)
                continue
            try:
                lines.append(access_line(*entry))
            except Exception:
                self.handleError(logging.makeLogRecord({"name": ACCESS_LOGGER, "args": entry[1]}))
        self._write_lines(lines)
        return True

    def _write_lines(self, lines: list[str]) -> None:
        if lines:
            lines.append("")  # the last line's end
            self.stream.write(self.terminator.join(lines))


class LogListener:
    """The thread that formats and writes what the queue carries: whatever is queued, at once;
    when the queue runs dry it flushes what it wrote and waits for the next entry, then
    ``WRITE_INTERVAL`` for those behind it, so that a burst is one write."""

    def __init__(self, entries: LogQueue, writer: _BufferedWriter):
        self.entries = entries
        self.writer = writer
        self._thread = threading.Thread(target=self._run, name="smsgate-log", daemon=True)
        self._dropped_told = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write everything queued so far, then end the thread."""
        self.entries.put_stop()
        self._thread.join()
        self._tell_dropped()
        self.writer.flush_burst()

    def _run(self) -> None:
        entries, writer = self.entries, self.writer
        burst: list[LogEntry | None] = []
        while True:
            with contextlib.suppress(queue.Empty):
                while len(burst) < MAX_BURST:
                    burst.append(entries.get_nowait())
            if burst:
                if not writer.write_burst(burst):
                    return
                burst = []
                continue
            self._tell_dropped()
            writer.flush_burst()
            # Waited for, not polled: an idle process's thread woke twenty times a second.
            burst.append(entries.get())
            if burst[0] is not None:
                time.sleep(WRITE_INTERVAL)

    def _tell_dropped(self) -> None:
        """A line saying how many entries were dropped since the last such line, if any."""
        dropped = self.entries.dropped
        if dropped > self._dropped_told:
            missing = dropped - self._dropped_told
            self._dropped_told = dropped
            self.writer.handle(
                logging.makeLogRecord(
                    {
                        "name": __name__,
                        "levelno": logging.WARNING,
                        "levelname": "WARNING",
                        "msg": f"{missing} log lines dropped: stderr was not read as fast as "
                        "they came",
                    }
                )
            )


def configure_logging(style: LogFormat, level: str, *, access: bool) -> LogListener:
    """Send every log record to stderr through a listener thread; stop it at exit to flush."""
    # The caller's file and line, thread and process names are not written: skip finding them.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    entries = LogQueue()
    # Block-buffered, unlike sys.stderr: a burst is one write.
    stream = open(  # noqa: SIM115 - the process's stderr, open until it ends
        sys.stderr.fileno(),
        "w",
        buffering=WRITE_BUFFER,
        encoding="utf-8",
        errors="backslashreplace",
        closefd=False,
    )
    writer = _BufferedWriter(stream, LineFormatter(style))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handoff = _Handoff(entries)
    handoff.addFilter(OutageDigest(unavailable))
    root.addHandler(handoff)
    root.setLevel(level.upper())
    access_log.setLevel(logging.INFO if access else logging.WARNING)
    access_lines.entries = entries if access else None
    logging.captureWarnings(True)
    listener = LogListener(entries, writer)
    listener.start()
    return listener
