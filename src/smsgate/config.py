"""Settings: environment variables prefixed ``SMSGATE_``, optionally a TOML file."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from smsgate.delivery.connectors.settings import (
    MAX_NAME_LENGTH,
    RouteSettings,
    SmppConnectorSettings,
)
from smsgate.delivery.routing import check_connectors_known
from smsgate.domain.flood import MAX_FLOOD_LIMIT, MAX_FLOOD_WINDOW_SECONDS
from smsgate.domain.money import MONEY_DIGITS, MONEY_PLACES
from smsgate.domain.timezones import check_zone
from smsgate.store.database import LOCK_WAIT_SECONDS

ENV_PREFIX = "SMSGATE_"
CONFIG_FILE_VARIABLE = "SMSGATE_CONFIG"
# The test suite's own variables (SMSGATE_TEST_POSTGRES_URL), which its servers inherit.
TEST_VARIABLES_PREFIX = "SMSGATE_TEST_"
# A batch's claim outlives its slowest submit by more than this: the results' write (tried
# again while the claim holds if it fails, ``dispatcher.RECORD_RETRY_SECONDS``), the sweep's
# tick.
LEASE_MARGIN_SECONDS = 5.0


def _database_backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        # Not echoed: a mistyped URL may still hold a password.
        raise ValueError(
            "not a database URL (sqlite:///PATH or postgresql://USER@HOST/NAME)"
        ) from None


class Settings(BaseSettings):
    """Everything an operator can set; environment variables win over the TOML file."""

    # No setting is infinite or NaN: each is a duration, a rate or an amount.
    # A key of the settings file that names no setting (a misspelling) is an error.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", allow_inf_nan=False)

    database_url: str = "sqlite:///./var/smsgate.db"
    durable_commits: bool = Field(
        default=True,
        description="Answer only once a commit is on disk, so nothing answered is lost to a "
        "power loss; false: on the operating system, a little faster (README, Durability).",
    )
    lock_wait_seconds: float = Field(
        default=LOCK_WAIT_SECONDS,
        gt=0,
        description="How long a statement waits for a lock held elsewhere (an admin command, "
        "an operator's LOCK TABLE) before its request answers Code 9.",
    )
    database_transaction_pooling: bool = Field(
        default=False,
        description="database_url reaches PostgreSQL through a pooler in transaction mode "
        "(PgBouncer's pool_mode=transaction): nothing is prepared on the server, and the lock "
        "and idle timeouts are set in each transaction (README, Running at scale).",
    )
    database_listen_url: str | None = Field(
        default=None,
        description="PostgreSQL itself, not a pooler, for the workers' LISTEN when "
        "database_url goes through a transaction pooler, which loses notifications (without "
        "it they find queued parts by their poll).",
    )
    data_dir: Path = Path("./var")
    reports_dir: Path | None = Field(
        default=None,
        description="Report files, built by the delivering process and downloaded from any "
        "API process: one folder all hosts share when they run apart (default: "
        "<data_dir>/reports).",
    )
    host: str = "127.0.0.1"
    port: int = Field(
        default=8080, ge=1, le=65535, description="Plain HTTP port (unless plain_http is false)."
    )
    ssl_certfile: Path | None = Field(
        default=None, description="PEM certificate (with its chain): HTTPS is served on ssl_port."
    )
    ssl_keyfile: Path | None = Field(default=None, description="PEM private key of ssl_certfile.")
    ssl_port: int = Field(default=8443, ge=1, le=65535)
    plain_http: bool = Field(
        default=True, description="Serve plain HTTP too; false: HTTPS only (needs a certificate)."
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or networks) whose X-Forwarded-For/-Proto are "
        "believed; none: the headers are ignored and the peer is the client.",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1, description="Larger request bodies answer Code 2."
    )
    # A request is validated, priced and written whole by the process that took it, and a
    # million recipients held its other requests for 17 s: such a campaign goes in several.
    max_recipients: int = Field(
        default=100_000, ge=1, description="More recipients in one send request answer Code 2."
    )
    request_head_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A connection whose request line and headers are not all in by then, from "
        "its opening or the request's first byte, is closed.",
    )
    request_stall_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A connection whose request body stops coming for this long is closed.",
    )
    login_failures_per_login: int = Field(
        default=5, ge=0, description="Failed logins in a row of one login that lock nothing."
    )
    login_failures_per_address: int = Field(
        default=20, ge=0, description="Failed logins in a row from one address that lock nothing."
    )
    login_lockout_seconds: float = Field(
        default=1.0, gt=0, description="The first lockout; it doubles with each further failure."
    )
    login_lockout_max_seconds: float = Field(
        default=300.0, gt=0, description="The longest lockout: the pace of guessing at most."
    )
    rate_limit_per_second: float | None = Field(
        default=None, gt=0, description="Requests per second of one account; none: no limit."
    )
    rate_limit_burst: int | None = Field(
        default=None, ge=1, description="Requests an account may make at once (default: rate)."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port only; none: on the API's ports.",
    )
    log_format: Literal["kv", "json"] = Field(
        default="kv", description="kv: key=value lines; json: one JSON object per line."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = Field(default=True, description="Log one line per API request.")
    shutdown_timeout_seconds: int = Field(
        default=30,
        ge=1,
        description="After SIGTERM: for in-flight requests, then for the dispatcher, to finish.",
    )
    report_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After SIGTERM: delivery reports are still taken this long for sent parts.",
    )
    session_ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Lifetime of a session id; none means API keys never expire.",
    )
    # As the store keeps money: a price with more places would be debited rounded per order but
    # refunded rounded per part.
    default_price: Decimal = Field(
        default=Decimal("1.00"),
        ge=0,
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        allow_inf_nan=False,
    )
    smsc: Literal["simulator", "smpp"] = Field(
        default="simulator",
        description="simulator: the embedded simulated SMSC; smpp: the connectors below.",
    )
    connectors: dict[str, SmppConnectorSettings] = Field(
        default_factory=dict, description="SMPP connectors by name (with smsc = smpp)."
    )
    routes: list[RouteSettings] = Field(
        default_factory=list,
        description="Routes by destination prefix; none: all to the connectors in order.",
    )
    simulator_delay: float = Field(default=1.0, ge=0)
    flood_limit: int = Field(default=10, ge=1, le=MAX_FLOOD_LIMIT)
    flood_window_seconds: int = Field(default=60, ge=1, le=MAX_FLOOD_WINDOW_SECONDS)
    dispatch: bool = Field(
        default=True,
        description="Run the delivery here (dispatcher, connectors, pushes, reports); "
        "false: an API-only node.",
    )
    dispatch_batch: int = Field(default=500, ge=1)
    dispatch_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A claimed batch is another worker's to send if not recorded by then.",
    )
    ownership_lease_seconds: float = Field(
        default=15.0,
        gt=0,
        description="An SMPP bind (and on SQLite the delivery) moves to a standing-by worker "
        "this long after its worker died.",
    )
    workers: int = Field(default=1, ge=1, description="API processes of `smsgate serve`.")
    push_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A push in flight is another worker's to retry if not settled by then.",
    )
    report_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A report being built is another worker's to build if not renewed by then.",
    )
    cache_refresh_seconds: float = Field(
        default=0.5,
        gt=0,
        le=3600,
        description="How often each process looks for admin changes (and drops its caches).",
    )
    push_concurrency: int = Field(
        default=64, ge=1, description="Instant pushes and status callbacks in flight at once."
    )
    push_concurrency_per_account: int = Field(
        default=16, ge=1, description="Of those, at most this many to one account's receivers."
    )
    push_private_addresses: bool = Field(
        default=False,
        description="Push to receivers on loopback, private or link-local addresses too (a "
        "client's callback_url could otherwise reach the gateway's own network).",
    )
    push_retry_base_seconds: float = Field(
        default=1.0,
        gt=0,
        description="First retry delay of a failed push; it doubles per failure up to an hour.",
    )
    default_timezone: str = Field(
        default="Europe/Moscow",
        description="SendByTime's zone for recipients that neither number nor account place.",
    )
    retention_days: int | None = Field(
        default=None,
        ge=8,
        le=36_500,
        description="Final message parts and incoming messages older than this many days are "
        "deleted; none: kept for good. At least 8: a part's pushes live up to a day and, given "
        "up, a week more.",
    )
    report_retention_seconds: float = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="Detailed statistics files are deleted this long after they are built.",
    )
    report_rows_kept: int = Field(
        default=10_000_000,
        ge=1,
        description="An account's report files kept (until their retention ends) hold at most "
        "this many rows in all; a further order answers Code 6 (each of a million rows is a "
        "file of about 20 MB).",
    )
    report_builders: int = Field(
        default=2, ge=1, description="Reports built at once, each in a process of its own."
    )
    report_sweep_seconds: float = Field(
        default=60.0, gt=0, description="How often report files past their retention are sought."
    )
    report_start_delay_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Wait this long before building each report (tests catch reports building).",
    )

    @property
    def reports_folder(self) -> Path:
        """Where report files are written and read."""
        return self.reports_dir if self.reports_dir is not None else self.data_dir / "reports"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return check_zone(zone)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, proxies: list[str]) -> list[str]:
        # Read as uvicorn reads them: what it cannot read (10.0.0.300, or 10.0.0.5/24 with
        # host bits) it takes for a name no client matches, and "*" trusts all only alone.
        # The proxy trusted by no one, every client had its address (and its lockout).
        if "*" in proxies and proxies != ["*"]:
            raise ValueError("'*' trusts every address: give it alone")
        for proxy in proxies:
            if proxy == "*":
                continue
            try:
                if "/" in proxy:
                    ipaddress.ip_network(proxy)
                else:
                    ipaddress.ip_address(proxy)
            except ValueError:
                raise ValueError(f"not an address or network: {proxy!r}") from None
        return proxies

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        backend = _database_backend(url)
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r}: sqlite or postgresql")
        return url

    @field_validator("database_listen_url")
    @classmethod
    def _listening_on_postgresql(cls, url: str | None) -> str | None:
        if url is not None and _database_backend(url) != "postgresql":
            raise ValueError("LISTEN is PostgreSQL's: a postgresql:// URL")
        return url

    @model_validator(mode="after")
    def _pooling_on_postgresql(self) -> Settings:
        if _database_backend(self.database_url) == "postgresql":
            return self
        for name in ("database_transaction_pooling", "database_listen_url"):
            if getattr(self, name) not in (False, None):
                raise ValueError(f"{name} is for a PostgreSQL database_url")
        return self

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        listening = [self.port] if self.plain_http else []
        if self.ssl_certfile is not None:
            listening.append(self.ssl_port)
        if self.metrics_port is not None:
            listening.append(self.metrics_port)
        if len(set(listening)) != len(listening):
            raise ValueError(f"the HTTP, HTTPS and metrics ports must differ: {listening}")
        return self

    @model_validator(mode="after")
    def _limits_that_apply(self) -> Settings:
        # Accepted and ignored, either would read as a limit in force that is not.
        if self.rate_limit_burst is not None and self.rate_limit_per_second is None:
            raise ValueError("rate_limit_burst needs rate_limit_per_second")
        if self.login_lockout_seconds > self.login_lockout_max_seconds:
            raise ValueError(
                f"login_lockout_seconds ({self.login_lockout_seconds:g}) is over "
                f"login_lockout_max_seconds ({self.login_lockout_max_seconds:g})"
            )
        return self

    @model_validator(mode="after")
    def _https(self) -> Settings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("HTTPS needs both ssl_certfile and ssl_keyfile")
        if not self.plain_http and self.ssl_certfile is None:
            raise ValueError("plain_http = false needs ssl_certfile and ssl_keyfile")
        return self

    @model_validator(mode="after")
    def _connectors_for_smpp(self) -> Settings:
        if self.smsc == "smpp" and not self.connectors:
            raise ValueError("smsc = smpp needs at least one [connectors.NAME] table")
        if self.smsc != "smpp" and (self.connectors or self.routes):
            # The simulated SMSC would report every message delivered while the operator
            # believed them sent through the connectors written.
            raise ValueError("connectors and routes are used with smsc = smpp only")
        prefixes = [route.prefix for route in self.routes]
        if len(set(prefixes)) != len(prefixes):
            twice = sorted({prefix for prefix in prefixes if prefixes.count(prefix) > 1})
            raise ValueError(f"routes with the same prefix: {', '.join(map(repr, twice))}")
        for name in self.connectors:
            if not 0 < len(name) <= MAX_NAME_LENGTH:
                raise ValueError(
                    f"connector names have 1 to {MAX_NAME_LENGTH} characters: {name!r}"
                )
        check_connectors_known([route.connectors for route in self.routes], self.connectors)
        for name, connector in self.connectors.items():
            # A claim that lapses while its part is still with the bind makes the part
            # claimable again: it would be sent twice.
            needed = connector.longest_submit + LEASE_MARGIN_SECONDS
            if self.dispatch_lease_seconds <= needed:
                raise ValueError(
                    f"dispatch_lease_seconds ({self.dispatch_lease_seconds:g}) must exceed "
                    f"connector {name}'s submit_deadline + response_timeout "
                    f"({connector.longest_submit:g}) by more than {LEASE_MARGIN_SECONDS:g} s"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            sources.append(InitSettingsSource(settings_cls, _read_settings_file(Path(config_file))))
        return tuple(sources)


def _read_settings_file(path: Path) -> dict[str, Any]:
    """The TOML settings file's values, its decimals read exactly: as a float, ``default_price =
    0.35000000000000001`` would become 0.35 unnoticed, where the Decimal is refused for its places.
    Settings that are floats take the Decimal as well."""
    with path.open("rb") as file:
        return tomllib.load(file, parse_float=Decimal)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings, from ``config_file`` too when given (it is remembered for child processes)."""
    if config_file is not None:
        if not config_file.is_file():
            raise FileNotFoundError(f"config file not found: {config_file}")
        os.environ[CONFIG_FILE_VARIABLE] = str(config_file)
    named = os.environ.get(CONFIG_FILE_VARIABLE)
    if named and not Path(named).is_file():
        raise FileNotFoundError(f"config file not found: {named} (from {CONFIG_FILE_VARIABLE})")
    # As a misspelled key of the file is: SMSGATE_DATABSE_URL went unnoticed, and the
    # commands used a new SQLite database instead.
    unknown = sorted(
        name
        for name in os.environ
        if name.startswith(ENV_PREFIX)
        and name != CONFIG_FILE_VARIABLE
        and not name.startswith(TEST_VARIABLES_PREFIX)
        and name.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    )
    if unknown:
        raise ValueError(f"unknown setting in the environment: {', '.join(unknown)}")
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except tomllib.TOMLDecodeError as error:  # says where in the file, not which file
        raise ValueError(f"{named}: {error}") from None
    except SettingsError as error:  # names the setting, not what its value should be
        raise ValueError(
            f'{error}: a list or a table is written in JSON there, such as ["10.0.0.5", "10.0.0.6"]'
        ) from None
