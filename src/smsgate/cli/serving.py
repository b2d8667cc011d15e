"""``smsgate serve``, ``smsgate worker`` and ``smsgate send``."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from smsgate.cli.context import (
    FROM_STDIN,
    console,
    fail,
    preflight,
    print_json,
    read_secret,
    settings,
)
from smsgate.config import Settings
from smsgate.services.accounts import AccountAdmin, AdminError

DEMO_LOGIN = "demo"
DEMO_PASSWORD = "demo"
DEMO_SENDER = "SMS Info"


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Plain HTTP port.")] = None,
    demo: Annotated[bool, typer.Option(help="Create the demo account when absent.")] = False,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="PEM certificate (with chain): serve HTTPS too.")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="PEM key of the certificate.")] = None,
    ssl_port: Annotated[int | None, typer.Option(help="HTTPS port.")] = None,
    plain_http: Annotated[
        bool | None,
        typer.Option("--plain-http/--no-plain-http", help="Serve plain HTTP, or HTTPS only."),
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics here only.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="API processes; above 1 a supervisor runs them and a worker."),
    ] = None,
    dispatch: Annotated[
        bool | None,
        typer.Option(
            "--dispatch/--no-dispatch",
            help="Deliver here too, or serve the API only (workers deliver elsewhere).",
        ),
    ] = None,
) -> None:
    """Serve the REST API (and, unless --no-dispatch, deliver: dispatcher and connectors)."""
    config = settings(
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        ssl_port=ssl_port,
        plain_http=plain_http,
        metrics_port=metrics_port,
        workers=workers,
        dispatch=dispatch,
    )
    database = preflight(config)
    if demo:
        ensure_demo_account(AccountAdmin(database), config)
    database.close()
    if config.workers > 1:
        from smsgate.supervisor import supervise

        supervise(config)
    else:
        from smsgate.serving import serve as run_server

        run_server(config)


def worker() -> None:
    """Deliver without serving HTTP: dispatcher, connectors, incoming, pushes, reports."""
    from smsgate.worker import run_worker

    config = settings()
    # A worker serves no HTTPS: a key it may not read (mode 0600) is none of its business.
    preflight(config, serving=False).close()
    run_worker(config)


def send(
    text: Annotated[str, typer.Argument(help="The message.")],
    to: Annotated[
        list[str], typer.Option("--to", help="A number to send to (repeat for several).")
    ],
    sender: Annotated[str, typer.Option("--from", help="A sender name of the account.")],
    url: Annotated[str, typer.Option(help="The API's address.")] = "http://127.0.0.1:8080",
    login: Annotated[str | None, typer.Option(help="The account's login.")] = None,
    password: Annotated[
        str | None, typer.Option(help=f"The account's password{FROM_STDIN}.", callback=read_secret)
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            help=f"A session id, instead of login and password{FROM_STDIN}.", callback=read_secret
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the server's answer.")
    ] = 30.0,
) -> None:
    """Send TEXT through a server's API, as any client does; print the ids of its SMS parts."""
    # Here only: the HTTP client takes a tenth of a second to load, which every other command
    # would pay at its start.
    import httpx

    from smsgate.client import SmsApiError, SmsClient

    if session is None and (login is None or password is None):
        fail("give --session, or --login and --password")
    try:
        with SmsClient(
            url, session_id=session, login=login, password=password, timeout=timeout
        ) as client:
            ids = (
                client.send_sms(sender, to[0], text)
                if len(to) == 1
                else client.send_bulk(sender, to, text)
            )
    except (SmsApiError, ValueError) as error:
        fail(str(error))
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as error:
        fail(f"cannot reach {url}: {error}")
    except httpx.HTTPError as error:
        # Sent, or partly: "cannot reach" would invite sending again, and a second SMS billed.
        reason = str(error) or type(error).__name__
        fail(
            f"no answer from {url} ({reason}): the server may have taken the request; look at "
            "its Statistic or the balance before sending again"
        )
    print_json(ids)


def ensure_demo_account(accounts: AccountAdmin, config: Settings) -> None:
    with contextlib.suppress(AdminError):  # already there: keep its balance and history
        accounts.create(
            DEMO_LOGIN,
            password=DEMO_PASSWORD,
            balance=Decimal(1000),
            sender_names=[DEMO_SENDER],
        )
    # The port the server answers on: HTTPS alone when plain HTTP is off.
    scheme, port = ("http", config.port) if config.plain_http else ("https", config.ssl_port)
    base = f"{scheme}://{config.host}:{port}/rest"
    console.print(
        f"Demo account: login [bold]{DEMO_LOGIN}[/bold], password [bold]{DEMO_PASSWORD}[/bold], "
        f"sender name [bold]{DEMO_SENDER}[/bold]\n"
        f"  curl '{base}/Session/?login={DEMO_LOGIN}&password={DEMO_PASSWORD}'\n"
        f"  curl '{base}/Balance/?sessionId=<the id above>'",
        highlight=False,
    )
