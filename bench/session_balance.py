"""Balance requests per second (by sessionId and by login+pass) beside a bare 200 route.

Run: ``.venv/bin/python -m bench.session_balance [seconds]``. Targets: Balance by sessionId at
least 50% of the bare route; login+pass within 20% of sessionId.
"""

from __future__ import annotations

import sys

from bench.harness import BENCH_PASSWORD, bench_account, bench_server, report
from bench.loadgen import get_request, run_load


def main(seconds: float) -> None:
    with bench_server() as (server, admin):
        login, session_id = bench_account(server, admin)
        admin.set_passwords(login, password=None, api_password=BENCH_PASSWORD)
        assert server.process is not None
        pid = server.process.pid
        bare_request = get_request("/healthz")
        by_session = get_request("/rest/Balance/", {"sessionId": session_id})
        by_password = get_request("/rest/Balance/", {"login": login, "pass": BENCH_PASSWORD})
        run_load(server.port, lambda: by_password, seconds=1)  # warm caches and connections
        bare = run_load(server.port, lambda: bare_request, seconds=seconds, server_pid=pid)
        session = run_load(server.port, lambda: by_session, seconds=seconds, server_pid=pid)
        password = run_load(server.port, lambda: by_password, seconds=seconds, server_pid=pid)
    for result in (bare, session, password):
        assert set(result.statuses) == {200}, result.statuses
    report(
        "Balance with 32 keep-alive clients",
        [
            ("bare route req/s", f"{bare.rate:,.0f}"),
            ("Balance by sessionId req/s", f"{session.rate:,.0f}"),
            ("Balance by login+pass req/s", f"{password.rate:,.0f}"),
            ("sessionId / bare", f"{session.rate / bare.rate:.0%} (target >= 50%)"),
            ("login+pass / sessionId", f"{password.rate / session.rate:.0%} (target >= 80%)"),
            ("server CPU per bare request", f"{bare.cpu_per_request_us:.0f} µs"),
            ("server CPU per Balance by sessionId", f"{session.cpu_per_request_us:.0f} µs"),
            ("server CPU per Balance by login+pass", f"{password.cpu_per_request_us:.0f} µs"),
        ],
    )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
