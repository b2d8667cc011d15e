"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` build it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
)

from smsgate.domain.accounts import MAX_LOGIN_LENGTH
from smsgate.domain.inbound_routing import (
    MAX_ADDRESS_LENGTH,
    MAX_NUMBER_LENGTH,
    MAX_PREFIX_KEY_LENGTH,
    MAX_PREFIX_LENGTH,
)
from smsgate.domain.sender import MAX_SENDER_NAME_LENGTH
from smsgate.domain.tariff import MAX_PREFIX_DIGITS
from smsgate.store.types import Money, UtcDateTime

# SQLite only auto-numbers an INTEGER PRIMARY KEY; BIGINT everywhere else.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("login", String(MAX_LOGIN_LENGTH), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    # NULL until an API password is set: then ``pass`` is checked against the password.
    Column("api_password_hash", String(200)),
    Column("balance", Money(), nullable=False),
    Column("price", Money()),
    Column("dynamic_sender", Boolean, nullable=False, default=False),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("parent_id", Id, ForeignKey("accounts.id")),
    Column("flood_limit", Integer),
    Column("flood_window_seconds", Integer),
    # IANA zone for SendByTime recipients whose number decides no zone; NULL: the platform's.
    Column("timezone", String(64)),
    # Where the account's incoming messages are pushed (instant push), and the key that signs
    # every push and status callback of the account; NULL: no push, no signature.
    Column("webhook_url", Text),
    Column("webhook_secret", String(200)),
    Column("created_at", UtcDateTime(), nullable=False),
)

sender_names = Table(
    "sender_names",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("name", String(MAX_SENDER_NAME_LENGTH), primary_key=True),
)

tariff_prefixes = Table(
    "tariff_prefixes",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("prefix", String(MAX_PREFIX_DIGITS), primary_key=True),
    Column("price", Money(), nullable=False),
)

# Sessions with a lifetime (``session_ttl_seconds``): by default none has one.
with_lifetime = text("expires_at IS NOT NULL")
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime()),
    # Clients that open a session per send leave millions of rows: the sweep of expired ones
    # (``store/retention``) and revoking an account's read these ranges, not the table.
    Index(
        "ix_sessions_expires_at",
        "expires_at",
        sqlite_where=with_lifetime,
        postgresql_where=with_lifetime,
    ),
    Index("ix_sessions_account_id", "account_id"),
)

# One row per named counter. ``config`` grows whenever the admin changes an account, a sender,
# a tariff or a password, so every process can drop its caches within a poll interval.
# ``messages`` hands out message ids in blocks, the same way on SQLite and PostgreSQL.
counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

smsc_id_set = text("smsc_id IS NOT NULL")
# Errors the tables keep (why a part failed or waits, a push or a report build failed), as
# their source said them, cut to this length by ``kept_error``.
ERROR_LENGTH = 200


def kept_error(error: str | None) -> str | None:
    """``error`` as an error column keeps it: a connector's reason, an SMSC's receipt text or a
    receiver's answer may be any length."""
    return None if error is None else error[:ERROR_LENGTH]


messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    # The id of the first part: every part of one text to one number shares it.
    Column("group_id", Id, nullable=False),
    Column("part_number", SmallInteger, nullable=False),
    Column("part_count", SmallInteger, nullable=False),
    Column("sender_name", String(MAX_SENDER_NAME_LENGTH), nullable=False),
    Column("destination", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("encoding", String(8), nullable=False),
    Column("price", Money(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("submitted_at", UtcDateTime()),
    Column("reported_at", UtcDateTime(), nullable=False),
    # Set while a dispatcher holds the part; a lapsed lease makes it claimable again.
    Column("lease_until", UtcDateTime()),
    # A submit of it may have reached an SMSC unrecorded (a dispatcher died holding it): only
    # the SMSC's answer to a submit again tells, so it is not refunded as unsent meanwhile.
    Column("maybe_submitted", Boolean, nullable=False, server_default=false()),
    Column("connector", String(64)),
    Column("smsc_id", String(64)),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("error", String(ERROR_LENGTH)),
    Column("callback_url", Text),
    # SendByTime: the zone chain step that chose the recipient's zone (``ZoneStep``).
    Column("timezone_step", String(16)),
    Index("ix_messages_state_due_at", "state", "due_at"),
    # With the state on PostgreSQL: Statistic counts an account's parts of a period by state
    # from the index alone, where it read a table page per part (the pages every account's
    # parts share: 0.7 s for a month of a busy account, 45 ms so). Not on SQLite, where each
    # change of state would then also move the part in this index.
    Index(
        "ix_messages_account_id_created_at",
        "account_id",
        "created_at",
        postgresql_include=["state"],
    ),
    # Destination first: the flood probe's per-number lookups on PostgreSQL leave account_id
    # out of the index condition (``store/messages``), so that only this index can answer them.
    Index(
        "ix_messages_destination_account_id_created_at", "destination", "account_id", "created_at"
    ),
    # Only parts an SMSC has taken have an smsc id: accepting a part costs no entry here.
    Index(
        "ix_messages_connector_smsc_id",
        "connector",
        "smsc_id",
        sqlite_where=smsc_id_set,
        postgresql_where=smsc_id_set,
    ),
)

# A delivery report whose part is not yet recorded as submitted (the receipt raced ahead of the
# submit result). Kept here, not in memory, so a crash cannot lose it; applied when the submit
# result is recorded.
early_receipts = Table(
    "early_receipts",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("smsc_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("done_at", UtcDateTime(), nullable=False),
    Column("error", String(ERROR_LENGTH)),
)

# Numbering plan files imported by ``smsgate admin numbering import``: the newest import is the
# registry in force (see ``smsgate.services.numbering`` for why the files live here).
numbering_imports = Table(
    "numbering_imports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("imported_at", UtcDateTime(), nullable=False),
    Column("row_count", Integer, nullable=False),
)

numbering_files = Table(
    "numbering_files",
    metadata,
    Column("import_id", Id, ForeignKey("numbering_imports.id"), primary_key=True),
    Column("position", SmallInteger, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("row_count", Integer, nullable=False),
    # The file byte for byte, gzip-compressed.
    Column("content_gzip", LargeBinary, nullable=False),
)

# An incoming number owned by an account, whole (``prefix`` "") or for texts starting with one
# keyword. ``prefix_key`` is the keyword casefolded, so no two accounts share a keyword that
# differs only in case; ``prefix`` keeps the spelling the operator gave.
inbound_numbers = Table(
    "inbound_numbers",
    metadata,
    Column("number", String(MAX_NUMBER_LENGTH), primary_key=True),
    Column("prefix_key", String(MAX_PREFIX_KEY_LENGTH), primary_key=True),
    Column("prefix", String(MAX_PREFIX_LENGTH), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Index("ix_inbound_numbers_account_id", "account_id"),
)

# Mobile-originated messages, joined when they came in parts. ``account_id`` is NULL when no
# account owns the destination: kept for the operator (``smsgate admin inbound unrouted``).
incoming_messages = Table(
    "incoming_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id")),
    Column("prefix", String(MAX_PREFIX_LENGTH), nullable=False),
    Column("source", String(MAX_ADDRESS_LENGTH), nullable=False),
    Column("destination", String(MAX_ADDRESS_LENGTH), nullable=False),
    Column("text", Text, nullable=False),
    Column("connector", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_incoming_messages_account_id_created_at", "account_id", "created_at"),
    # An ID a receiver saw is never another message's, whatever retention deleted.
    sqlite_autoincrement=True,
)

# Parts of multi-part incoming messages not yet whole. A part is stored before its deliver_sm
# is acknowledged, and the joined message is recorded in the transaction that stores the last
# one, so a crash at any point loses none. ``body`` is the part's text octets. The parts of a
# joined message stay a while with ``joined_at`` set, so that one the SMSC sends again (its
# acknowledgement lost) is known for a copy rather than taken for the start of a new message.
incoming_fragments = Table(
    "incoming_fragments",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("source", String(MAX_ADDRESS_LENGTH), primary_key=True),
    Column("destination", String(MAX_ADDRESS_LENGTH), primary_key=True),
    Column("reference", Integer, primary_key=True),
    Column("total", SmallInteger, primary_key=True),
    Column("seqnum", SmallInteger, primary_key=True),
    Column("data_coding", SmallInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("joined_at", UtcDateTime()),
    Index("ix_incoming_fragments_connector_received_at", "connector", "received_at"),
)

# HTTP POSTs owed to clients: instant pushes of incoming messages (``kind`` "incoming",
# ``subject_id`` the message) and status callbacks of parts (``kind`` "status", ``subject_id``
# the part, with the state it changed to). ``due_at`` is the next attempt; while a pusher holds
# the job (``leased``) it is the end of the lease, so the job of a pusher that died is tried
# again then. A job leaves the table on a 2xx; ``due_at`` NULL means it was given up (deleted
# a week later by the pusher).
push_jobs = Table(
    "push_jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("subject_id", Id, nullable=False),
    Column("state", String(16)),
    Column("reported_at", UtcDateTime()),
    Column("price", Money()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime()),
    Column("leased", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", String(ERROR_LENGTH)),
    Index("ix_push_jobs_due_at", "due_at"),
    Index("ix_push_jobs_kind_subject_id", "kind", "subject_id"),
)

# Detailed statistics ordered through ``Statistic/all_stat.php``, one row per report. ``status``
# is building until the file is written (ready) or the build gives up (failed). Past the
# retention a report is expired (at ``expired_at``; its file is kept a little longer for
# downloads already under way), then deleted with its file. ``params`` is the order as
# ``ReportOrder`` reads it back; ``file_path`` is relative to the reports folder. A builder
# holds a report by ``lease_until`` (renewed while it builds), so the report of a builder that
# died is built again once the lease lapses; ``attempts`` bounds how often.
reports = Table(
    "reports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("file_path", String(255)),
    Column("row_count", BigInteger),
    Column("attempts", SmallInteger, nullable=False),
    Column("lease_until", UtcDateTime()),
    Column("error", String(ERROR_LENGTH)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("expired_at", UtcDateTime()),
    Index("ix_reports_account_id_status", "account_id", "status"),
    Index("ix_reports_status_finished_at", "status", "finished_at"),
    sqlite_autoincrement=True,  # a report id a client kept is never another report's
)

# An account's contact base: a name and free fields (the import file's further columns, a JSON
# object) per normalised phone, joined to detailed statistics with ``c_base=1``.
contacts = Table(
    "contacts",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("phone", String(16), primary_key=True),
    Column("name", Text, nullable=False),
    Column("fields", JSON, nullable=False),
)

# What only one live process may do at a time: the SMPP binds (``smpp-binds``), or on SQLite
# the dispatching itself. The holder renews ``expires_at`` while it lives; once it lapses any
# process may take the lease over.
leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# The simulated SMSC's own state, as a real SMSC keeps it apart from ours: one row per part it
# took, whichever process took it, so a part submitted again (by any process) keeps its smsc id
# and gets no second report. ``report`` is NULL for a part never reported. The taker holds an
# owed report until ``lease_until``; past it any simulator may deliver it. A delivered report
# sets ``reported_at`` and clears the lease.
simulator_owed = text("lease_until IS NOT NULL")

simulator_parts = Table(
    "simulator_parts",
    metadata,
    Column("part_id", Id, primary_key=True, autoincrement=False),
    Column("smsc_id", String(64), nullable=False),
    Column("report", String(16)),
    Column("report_due_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime()),
    Column("reported_at", UtcDateTime()),
    Column("submissions", Integer, nullable=False),
    Index(
        "ix_simulator_parts_lease_until",
        "lease_until",
        sqlite_where=simulator_owed,
        postgresql_where=simulator_owed,
    ),
    Index("ix_simulator_parts_report_due_at", "report_due_at"),
)

# Incoming messages waiting in the simulated SMSC (``smsgate simulate incoming``). A simulator
# holds a row until ``lease_until`` while it delivers it and deletes it once it is committed;
# a new row's lease_until is its creation, so it is claimable at once. AUTOINCREMENT: an id
# is never reused, so deleting a delivered row can never hit a newer one.
simulator_inbox = Table(
    "simulator_inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(MAX_ADDRESS_LENGTH), nullable=False),
    Column("destination", String(MAX_ADDRESS_LENGTH), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime(), nullable=False),
    Index("ix_simulator_inbox_lease_until", "lease_until"),
    sqlite_autoincrement=True,
)
