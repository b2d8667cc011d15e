"""Planner statistics of the busy tables, kept current on PostgreSQL.

PostgreSQL plans from statistics that autovacuum refreshes at most once a minute per database
(``autovacuum_naptime``) and only after 10% of a table changed. A table that grows from empty
(a new installation, a first campaign) is meanwhile planned as if it were empty: look-ups
may then scan rows instead of probing their indexes, 1-50 ms a statement instead of 0.1 ms,
and the single writer stalls on them (the flood check, the state checks and the receipts'
look-up in ``store/messages`` are written so that no plan can). A prepared statement keeps
the plan it made then (a sequential scan for a batch of ids, say) until the table is analyzed.
So the delivering process checks twice a second and analyzes a busy table once a fifth of it
changed since its last analysis: checked every 2 s, benchmark runs whose first analysis came
2 s into a burst of 20,000 parts spent 150-230 µs of PostgreSQL per part, against 77-92.
These analyses read a sample of 3,000 rows, not the server's default of 30,000: the plans
need only the tables' sizes and their common values, and with the default the analyses of
``messages`` alone (110-200 ms each) took a sixth of PostgreSQL's time in a delivery run.
SQLite needs none of this: its planner uses no statistics unless asked to.
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy import Connection, bindparam, text

from smsgate.periodic import every
from smsgate.store.database import Database

log = logging.getLogger(__name__)

# The tables whose size changes fast and whose look-ups sit on the hot paths.
BUSY_TABLES: Final = (
    "messages",
    "early_receipts",
    "simulator_parts",
    "simulator_inbox",
    "push_jobs",
    "incoming_messages",
    "incoming_fragments",
)
CHECK_SECONDS: Final = 0.5
# Analyze once this share of a table's rows changed, but not for fewer changes than MIN_CHANGES.
CHANGED_SHARE: Final = 0.2
MIN_CHANGES: Final = 500
# PostgreSQL samples 300 rows per unit of the statistics target.
STATISTICS_TARGET: Final = 10

_STALE = text(
    "SELECT relname FROM pg_stat_user_tables"
    " WHERE relname IN :tables AND schemaname = current_schema()"
    " AND n_mod_since_analyze >= GREATEST(:min_changes, :share * n_live_tup)"
).bindparams(bindparam("tables", expanding=True))


def stale_tables(connection: Connection) -> list[str]:
    """The busy tables changed enough since their last analysis to mislead the planner."""
    rows = connection.execute(
        _STALE, {"tables": list(BUSY_TABLES), "min_changes": MIN_CHANGES, "share": CHANGED_SHARE}
    )
    return [str(name) for name in rows.scalars()]


def analyze_stale(connection: Connection) -> list[str]:
    """Analyze the stale busy tables; which they were."""
    stale = stale_tables(connection)
    if stale:
        # LOCAL: the pooled connection's later transactions keep the server's default.
        connection.exec_driver_sql(f"SET LOCAL default_statistics_target = {STATISTICS_TARGET}")
    for table in stale:
        # Names come from BUSY_TABLES only, never from input.
        connection.exec_driver_sql(f"ANALYZE {connection.dialect.identifier_preparer.quote(table)}")
    return stale


async def keep_statistics(database: Database, interval: float = CHECK_SECONDS) -> None:
    """Analyze the busy tables as they change, until cancelled (PostgreSQL only)."""
    if database.dialect != "postgresql":
        return

    async def analyze() -> None:
        analyzed = await database.read(analyze_stale)
        if analyzed:
            log.debug("analyzed %s", ", ".join(analyzed))

    failure = "refreshing the planner statistics failed"
    await every(interval, analyze, log=log, failure=failure, first_now=False)
