"""Snapshot types returned by :meth:`zenws.Client.metrics`."""

from __future__ import annotations

from dataclasses import dataclass

from .state import State

__all__ = ["HeartbeatHealth", "StateMetrics"]


@dataclass(frozen=True, slots=True)
class HeartbeatHealth:
    """Snapshot of a heartbeat's state, as returned by ``client.heartbeat_health()``.

    Attributes:
        kind: strategy name (``"ping_pong"``, ``"deribit"``, ``"binance"``, ``"text"``,
            ``"none"``).
        last_seen: monotonic time (seconds, ``time.monotonic()`` clock) of the last heartbeat
            received from the server, or ``None``.
        rtt: last measured heartbeat round trip in seconds, or ``None``.
        misses: heartbeats missed since the client was created (each forced a reconnect).
        healthy: True while running on an open connection with no deadline missed.
    """

    kind: str
    last_seen: float | None
    rtt: float | None
    misses: int
    healthy: bool

    @classmethod
    def disabled(cls) -> HeartbeatHealth:
        """Health of a client configured without a heartbeat (nothing can be missed)."""
        return cls("none", None, None, 0, True)


@dataclass(frozen=True)
class StateMetrics:
    """One consistent read of a client's counters (cheap: C fields + a few ints).

    Attributes:
        state: lifecycle state.
        epoch: connection epoch (1 after the first connect, +1 per reconnect).
        pending: requests not yet ended: waiting in the rate limiter's queue, waiting for
            a writable socket, or sent and waiting for the response.
        subscriptions: tracked channels (pending + confirmed).
        reconnects: successful reconnects since the client was created.
        frames_in / frames_out / bytes_in / bytes_out: WebSocket frames and payload bytes
            since the client was created (all epochs).
        messages_in: complete data messages received.
        responses: responses resolved by the hot path.
        notifications: notifications received.
        errors: protocol errors, error frames without id and invalid JSON.
        invalid_json: text messages that were not valid JSON.
        unknown_responses: responses whose id was not pending.
        callback_errors: exceptions raised by user callbacks (isolated).
        dropped: messages dropped by the queue's overflow policy.
        queue_depth: messages waiting in the ``async for`` queue.
        queue_max_depth: the most messages that queue ever held at once (its high-water
            mark: ``queue_size``, plus at most one socket read with
            ``overflow="pause_reading"``).
        rate_limit_pressure: "none", "low", "medium" or "high".
        rate_limit_queue: requests waiting for rate-limit tokens.
        write_paused: the transport asked us to stop writing (buffer above high-water);
            requests then wait (within their deadline) before they are written.
        write_buffer: bytes in the transport's write buffer, not yet taken by the socket
            (``send()`` adds to it without a bound).
        close_code / close_reason: the peer's close code and reason of the last close.
        last_error: short description of the last connection error, if any.
    """

    state: State
    epoch: int
    pending: int
    subscriptions: int
    reconnects: int
    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int
    messages_in: int
    responses: int
    notifications: int
    errors: int
    invalid_json: int
    unknown_responses: int
    callback_errors: int
    dropped: int
    queue_depth: int
    rate_limit_pressure: str
    rate_limit_queue: int
    write_paused: bool
    close_code: int | None
    close_reason: str
    last_error: str | None
    queue_max_depth: int = 0
    write_buffer: int = 0
