"""pysimdjson is optional (``pip install "zenws[simdjson]"``): zenws works without it.

The child interpreter runs with a ``sys.meta_path`` finder that raises
``ModuleNotFoundError`` for ``simdjson``, exactly what ``import simdjson`` raises when the
package is not installed (it is installed here, for the other tests).  Without it:
``import zenws``, ``build_info()``, a connect / request / notification / close cycle
against a real MockServer on 127.0.0.1 all work; selecting ``decoder="simdjson"`` fails
at once with the pip command, and nothing ever imports simdjson behind the user's back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, importlib.abc, json, sys

    class NoSimdjson(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "simdjson" or name.startswith("simdjson."):
                raise ModuleNotFoundError("No module named 'simdjson'", name=name)
            return None

    sys.meta_path.insert(0, NoSimdjson())
    sys.modules.pop("simdjson", None)

    import zenws
    from zenws.testing import MockServer

    out = {}
    info = zenws.build_info()
    out["build_info"] = sorted(info["extensions"])
    out["default_decoder"] = zenws.Config("ws://127.0.0.1:1/").decoder


    def handler(conn, msg):
        req = json.loads(msg.data)
        conn.send_json({"jsonrpc": "2.0", "method": "subscription",
                        "params": {"channel": "c", "data": {"price": 1.5}}})
        conn.send_json({"jsonrpc": "2.0", "id": req["id"], "result": req["params"]})


    async def main():
        async with MockServer(handler) as srv:
            client = await zenws.connect(srv.url)
            notes = []
            client.on_message = lambda m: notes.append(m.json())
            out["result"] = await client.request("public/echo", {"x": [1, 2]})
            out["notes"] = notes
            await client.close()
            out["state"] = client.state.name
            try:
                await zenws.connect(srv.url, decoder="simdjson")
            except zenws.errors.ConfigError as exc:
                out["config_error"] = [exc.field, str(exc)]

    asyncio.run(main())
    from zenws.fast import listener
    try:
        listener.decoder_id("simdjson")
    except ImportError as exc:
        out["decoder_id"] = [type(exc).__name__, str(exc)]
    out["simdjson_imported"] = "simdjson" in sys.modules
    print(json.dumps(out))
    """
)


def test_zenws_works_without_pysimdjson_and_names_the_extra() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "listener" in out["build_info"] and "jsonrpc" in out["build_info"]
    assert out["default_decoder"] == "zenws"
    assert out["result"] == {"x": [1, 2]}
    assert out["notes"] == [
        {
            "jsonrpc": "2.0",
            "method": "subscription",
            "params": {"channel": "c", "data": {"price": 1.5}},
        }
    ]
    assert out["state"] == "CLOSED"
    field, message = out["config_error"]
    assert field == "decoder"
    assert 'pip install "zenws[simdjson]"' in message
    kind, message = out["decoder_id"]
    assert kind == "ImportError" and 'pip install "zenws[simdjson]"' in message
    assert out["simdjson_imported"] is False


def test_the_simdjson_decoder_still_works_when_installed() -> None:
    from zenws.fast.listener import _make_message

    raw = b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"c","data":[1,2.5]}}'
    msg = _make_message(2, raw, "c", None, 0, 1, "simdjson")
    assert msg.json() == json.loads(raw) and type(msg.json()) is dict
