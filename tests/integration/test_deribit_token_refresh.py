"""DeribitClient refreshes its token at 80 % of ``expires_in``, and private calls never see an
expired token (DeribitSimulator on loopback, short-lived tokens).

The refresh time is measured where it matters, on the server: each ``public/auth`` request
(the first with credentials, then ``refresh_token`` grants) arrives ``0.8 * expires_in``
after the previous one was answered, well before the token's end (100 %). Meanwhile a private
call every ~20 ms across three token lifetimes never fails with 13009 (token expired).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from zenws.adapters.deribit import DeribitClient
from zenws.errors import RpcError
from zenws.testing.deribit import DeribitSimulator

ID, SECRET = "sim_client", "sim_secret"
TTL = 2.5  # seconds an access token lives: refresh due at 2.0 s, expiry at 2.5 s
LIFETIMES = 3


def auth_requests(sim: DeribitSimulator) -> list[tuple[int, str]]:
    """(server arrival ns, grant_type) of every public/auth request, in order."""
    assert sim.server is not None
    out = []
    for r in sim.server.received:
        doc = r.json(None)
        if isinstance(doc, dict) and doc.get("method") == "public/auth":
            out.append((r.mono_ns, doc["params"]["grant_type"]))
    return out


async def test_refresh_at_80_percent_and_private_calls_never_see_an_expired_token() -> None:
    sim = DeribitSimulator(seed=1, access_token_ttl=TTL)
    async with sim.serve():
        dc = await DeribitClient.connect(
            sim.url, client_id=ID, client_secret=SECRET, heartbeat=None
        )
        try:
            assert dc._token is not None and dc._token.expires_in == TTL  # not int(TTL)
            failures: list[Any] = []
            calls = 0
            end = time.monotonic() + LIFETIMES * TTL + 0.3
            while time.monotonic() < end:
                try:
                    await dc.get_open_orders()
                except RpcError as exc:
                    failures.append((exc.code, exc.data))
                calls += 1
                await asyncio.sleep(0.02)
            assert failures == [], "a private call met an expired token"
            assert calls >= LIFETIMES * TTL / 0.1  # the loop really kept calling
        finally:
            await dc.close()
    auths = auth_requests(sim)
    grants = [g for _, g in auths]
    assert grants[0] == "client_credentials"
    assert grants[1:] == ["refresh_token"] * (len(auths) - 1)
    assert len(auths) >= LIFETIMES + 1, grants  # refreshed within every lifetime
    due, expiry = 0.8 * TTL, TTL
    for (prev, _), (at, _) in itertools.pairwise(auths):
        gap = (at - prev) / 1e9
        # at 80 % (never before), and clearly before the token's end
        assert due - 0.02 <= gap <= due + 0.8 * (expiry - due), (gap, due, expiry)
    assert dc.auths == 1 and dc.refreshes == len(auths) - 1
