"""Connection states and the one function that moves between them.

Every state change of a :class:`zenws.Client` goes through :func:`transition`, which
rejects moves the lifecycle does not allow, so a bug shows up as an error instead of a
client stuck in an impossible state.
"""

from __future__ import annotations

import enum

__all__ = ["State", "transition"]


class State(enum.Enum):
    """Lifecycle of a client connection."""

    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


#: Allowed moves.  CLOSED is terminal: a closed client is not reopened.
_ALLOWED: dict[State, frozenset[State]] = {
    State.CONNECTING: frozenset({State.OPEN, State.CLOSING, State.CLOSED}),
    State.OPEN: frozenset({State.RECONNECTING, State.CLOSING, State.CLOSED}),
    State.RECONNECTING: frozenset({State.OPEN, State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}


def transition(current: State, new: State) -> State:
    """Validate a state change.

    Args:
        current: the state the client is in.
        new: the state it moves to (``new == current`` is a no-op and allowed).

    Returns:
        ``new``.

    Raises:
        RuntimeError: the move is not part of the lifecycle (a zenws bug).
    """
    if new is current or new in _ALLOWED[current]:
        return new
    raise RuntimeError(f"invalid client state transition {current.name} -> {new.name}")
