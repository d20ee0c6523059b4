"""The one transition function and the states a real client goes through."""

from __future__ import annotations

import itertools

import pytest
from _client_servers import WebsocketsServer

import zenws
from waits import wait_until
from zenws import State
from zenws.state import transition

ALLOWED = {
    (State.CONNECTING, State.OPEN),
    (State.CONNECTING, State.CLOSING),
    (State.CONNECTING, State.CLOSED),
    (State.OPEN, State.RECONNECTING),
    (State.OPEN, State.CLOSING),
    (State.OPEN, State.CLOSED),
    (State.RECONNECTING, State.OPEN),
    (State.RECONNECTING, State.CLOSING),
    (State.RECONNECTING, State.CLOSED),
    (State.CLOSING, State.CLOSED),
}


@pytest.mark.parametrize(("a", "b"), list(itertools.product(State, State)))
def test_transition_table(a: State, b: State) -> None:
    if a is b or (a, b) in ALLOWED:
        assert transition(a, b) is b
    else:
        with pytest.raises(RuntimeError, match=f"{a.name} -> {b.name}"):
            transition(a, b)


async def test_states_through_a_reconnect_and_close() -> None:
    seen: list[State] = []
    async with WebsocketsServer() as srv:
        client = zenws.Client(zenws.Config.new(srv.url, retry_delay=0.01, max_backoff=0.02))
        original = client._set_state

        def spy(new: State) -> None:
            original(new)
            seen.append(new)

        client._set_state = spy  # type: ignore[method-assign]
        assert client.state is State.CONNECTING
        await client.start()
        next(iter(srv.live)).transport.abort()
        await wait_until(lambda: client.epoch == 2 and client.state is State.OPEN)
        await client.close()
    assert seen == [State.OPEN, State.RECONNECTING, State.OPEN, State.CLOSING, State.CLOSED]
    assert client.closed
