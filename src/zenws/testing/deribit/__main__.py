"""Run the Deribit simulator standalone: ``python -m zenws.testing.deribit --port 0``.

Prints the WebSocket URL on the first line of stdout (flushed), then serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .simulator import DeribitSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m zenws.testing.deribit", description="Deribit JSON-RPC simulator"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--seed", type=int, default=0, help="seed of prices and tokens")
    parser.add_argument("--ssl", action="store_true", help="serve wss:// with a throw-away cert")
    parser.add_argument(
        "--min-heartbeat-interval", type=float, default=10.0, help="smallest set_heartbeat"
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="disable credit limits")
    parser.add_argument(
        "--gap-every", type=int, default=None, help="skip one book change_id every N changes"
    )
    parser.add_argument(
        "--connection-lifetime",
        type=float,
        default=None,
        help="close every connection this many seconds after it opened",
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator, print its URL, wait for SIGINT/SIGTERM."""
    sim = DeribitSimulator(
        seed=args.seed,
        min_heartbeat_interval=args.min_heartbeat_interval,
        rate_limits=not args.no_rate_limits,
        gap_every=args.gap_every,
        connection_lifetime=args.connection_lifetime,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with sim.serve(host=args.host, port=args.port, ssl=True if args.ssl else None):
        print(sim.url, flush=True)
        credentials = ", ".join(f"{k}/{v}" for k, v in sim.knobs.credentials.items())
        print(f"credentials (client_id/client_secret): {credentials}", file=sys.stderr)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
