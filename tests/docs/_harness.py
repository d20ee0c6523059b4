"""Run one Python code block of the documentation (a subprocess of tests/docs/test_docs.py).

    python _harness.py BLOCK.py TIME_BOUND

The block runs against the embedded Deribit simulator, never the network:

- venue URLs (``wss://test.deribit.com/ws/api/v2``, ``wss://www.deribit.com/ws/api/v2``,
  ``adapters.deribit.TESTNET``) and placeholder hosts (``*.example``, ``example.com``,
  ``example.invalid``) are rewritten to the simulator's ``ws://127.0.0.1:PORT/ws/api/v2``;
- ``url`` and ``URL`` name that URL unless the block assigns them; ``DERIBIT_CLIENT_ID`` and
  ``DERIBIT_CLIENT_SECRET`` hold the simulator's credentials;
- top-level ``await`` / ``async with`` / ``async for`` run on an event loop (as in
  ``python -m asyncio``); ``>>>`` blocks run as doctests;
- after TIME_BOUND seconds the block gets SIGINT (an endless ``async for`` or a long sleep
  ends there): exit code 3, and the caller checks that it printed something first.

Exit codes: 0 ran to completion, 1 raised (traceback on stderr), 3 stopped at the time bound.
A block still running ``HANG_AFTER`` seconds past its bound writes every thread's stack to
stderr and exits 1: a hang fails with where it hung, not with the caller's timeout.
"""

from __future__ import annotations

import ast
import asyncio
import doctest
import faulthandler
import os
import re
import signal
import sys
import threading
import traceback
from typing import Any

#: Seconds after the time bound before a block that did not end counts as hung.
HANG_AFTER = 45.0

URLS = re.compile(
    r"wss://(?:test|www)\.deribit\.com/ws/api/v2"
    r"|wss?://(?:[\w-]+\.)*example(?:\.(?:com|invalid|org))?(?::\d+)?(?:/[\w/.-]*)?"
)


def start_simulator() -> tuple[Any, Any, threading.Thread]:
    from zenws.testing.deribit import DeribitSimulator

    ready = threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        box["stop"] = loop.create_future()

        async def main() -> None:
            async with DeribitSimulator(seed=1).serve() as sim:
                box["sim"] = sim
                ready.set()
                await box["stop"]

        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the Deribit simulator did not start")
    return box["sim"], box, thread


def run_code(source: str, globs: dict[str, Any]) -> None:
    code = compile(source, "<docs block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if not code.co_flags & 0x80:  # CO_COROUTINE: no top-level await
        exec(code, globs)
        return
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)

    async def drain() -> None:  # what the block left running (a client it did not close)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    try:
        loop.run_until_complete(eval(code, globs))
    finally:
        loop.run_until_complete(drain())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def run_doctest(source: str, globs: dict[str, Any]) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, globs, "docs block", "<docs block>", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=sys.stderr.write)
    if runner.failures:
        raise AssertionError(f"{runner.failures} doctest example(s) failed")


def main() -> int:
    path, bound = sys.argv[1], float(sys.argv[2])
    with open(path, encoding="utf-8") as f:
        source = f.read()
    sim, box, thread = start_simulator()
    client_id, secret = next(iter(sim.knobs.credentials.items()))
    os.environ["DERIBIT_CLIENT_ID"], os.environ["DERIBIT_CLIENT_SECRET"] = client_id, secret
    source = URLS.sub(sim.url, source)
    if "TESTNET" in source:
        import zenws.adapters.deribit as deribit

        deribit.TESTNET = sim.url
    globs: dict[str, Any] = {"__name__": "__main__", "url": sim.url, "URL": sim.url}

    # A test run started in the background (``cmd &`` in a script) inherits SIGINT ignored,
    # and Python then leaves it ignored: the time bound would stop nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(bound, os.kill, (os.getpid(), signal.SIGINT))
    timer.daemon = True
    timer.start()
    faulthandler.dump_traceback_later(bound + HANG_AFTER, exit=True)
    rc = 0
    try:
        if re.search(r"^\s*>>> ", source, re.M):
            run_doctest(source, globs)
        else:
            run_code(source, globs)
    except KeyboardInterrupt:
        print(f"docs-test: stopped at the time bound ({bound:g} s)", file=sys.stderr)
        rc = 3
    except BaseException:
        traceback.print_exc()
        rc = 1
    finally:
        timer.cancel()
        sys.stdout.flush()
        box["loop"].call_soon_threadsafe(box["stop"].set_result, None)
        thread.join(10)
    return rc


if __name__ == "__main__":
    sys.exit(main())
