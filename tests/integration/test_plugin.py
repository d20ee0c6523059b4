"""The pytest plugin, exercised the way a user's project uses it (pytester, subprocess runs)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

import zenws

pytest_plugins = ["pytester"]

USER_TEST = """
import asyncio
import json

import pytest
from websockets.asyncio.client import connect

{marker}
async def test_echo(zenws_server):
    async with connect(zenws_server.url) as ws:
        await ws.send("ping-me")
        assert await ws.recv() == "ping-me"
    await zenws_server.assert_received("ping-me")
    print("LOOP", type(asyncio.get_running_loop()).__module__)


{marker}
@pytest.mark.deribit_sim(seed=3, min_heartbeat_interval=0.05)
async def test_deribit(deribit_sim):
    assert deribit_sim.knobs.seed == 3
    async with connect(deribit_sim.url) as ws:
        await ws.send(json.dumps({{"jsonrpc": "2.0", "id": 1, "method": "public/set_heartbeat",
                                  "params": {{"interval": 0.05}}}}))
        reply = json.loads(await ws.recv())
        assert reply["result"] == "ok"


{marker}
@pytest.mark.zenws_server(path="/feed")
async def test_marker_options(zenws_server):
    assert zenws_server.url.endswith("/feed")
"""


# Keep the inner sessions lean: only pytest-asyncio and the zenws plugin matter here.
LEAN = ("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*LEAN, *args)


def _write(pytester: pytest.Pytester, mode: str, loops: str | None = None) -> None:
    ini = f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    if loops is not None:
        ini += f"zenws_loops = {loops}\n"
    pytester.makefile(".ini", pytest=ini)
    marker = "@pytest.mark.asyncio" if mode == "strict" else ""
    pytester.makepyfile(test_user=USER_TEST.format(marker=marker))


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_fixtures_work_in_strict_and_auto_mode(pytester: pytest.Pytester, mode: str) -> None:
    _write(pytester, mode)
    result = run(pytester, "-q", "-s")
    result.assert_outcomes(passed=3)


def test_zenws_loops_runs_every_test_on_both_loops(pytester: pytest.Pytester) -> None:
    _write(pytester, "strict", "asyncio uvloop")
    result = run(pytester, "-v", "-s")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["*test_echo?asyncio? LOOP asyncio*", "*test_echo?uvloop? LOOP uvloop"]
    )
    result.stdout.fnmatch_lines(["*test_deribit?asyncio? PASSED", "*test_deribit?uvloop? PASSED"])


def test_without_zenws_loops_tests_are_not_parametrized(pytester: pytest.Pytester) -> None:
    _write(pytester, "auto")
    result = run(pytester, "-v")
    result.assert_outcomes(passed=3)
    assert "[uvloop]" not in result.stdout.str()


def test_unknown_loop_name_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _write(pytester, "auto", "asyncio trio")
    result = run(
        pytester,
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*zenws_loops: unknown loop 'trio'*"])


def test_plugin_import_does_not_start_the_server_stack() -> None:
    code = (
        "import sys, zenws.testing.plugin as p; "
        "print(sorted(m for m in ('zenws.testing.server', 'zenws.testing.deribit', "
        "'zenws.testing.connection') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_pytest_asyncio_the_fixtures_say_what_to_install(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user="def test_needs(zenws_server):\n    pass\n")
    pytester.makeconftest("")
    # pytest-asyncio made unimportable; plugins loaded by hand as autoload would pull it in.
    code = (
        "import sys; sys.modules['pytest_asyncio'] = None; import pytest; "
        "sys.exit(pytest.main(['-p', 'zenws.testing.plugin', '-p', 'no:cacheprovider', '-q']))"
    )
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=pytester.path, env=env
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'pip install "zenws[testing]"' in out.stdout


# -- zero configuration: a new project with only zenws[testing] installed ----------------------

REPO = pathlib.Path(__file__).resolve().parents[2]
SRC = str(pathlib.Path(zenws.__file__).resolve().parents[1])


def readme_pytest_example() -> tuple[str, str]:
    """The README's pytest example and the pytest.ini it gives, verbatim."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    examples = [b for b in blocks if "def test_" in b]
    assert len(examples) == 1, "README.md: expected one pytest example"
    inis = re.findall(r"^```ini\n(.*?)^```", text, re.S | re.M)
    assert len(inis) == 1, "README.md: expected the one pytest.ini block"
    return examples[0], inis[0]


def pytest_in(
    project: pathlib.Path, *args: str, werror: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ZENWS_DEBUG"))}
    env["PYTHONPATH"] = SRC
    strict = ["-W", "error"] if werror else []
    return subprocess.run(
        [sys.executable, "-m", "pytest", *strict, "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=project,
        env=env,
        timeout=300,
    )


def test_readme_example_passes_in_a_new_project(tmp_path: pathlib.Path) -> None:
    # The README's pytest.ini line and its example, nothing else: no conftest, no marker,
    # pytest-asyncio in its default strict mode, every warning an error.
    example, ini = readme_pytest_example()
    (tmp_path / "pytest.ini").write_text(ini)
    (tmp_path / "test_strategy.py").write_text(example)
    res = pytest_in(tmp_path, "-q", "-rA")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout and "warning" not in res.stdout.lower(), res.stdout


PROJECT_TESTS = """
import pytest

async def test_with_fixture(zenws_server):
    assert zenws_server.url.startswith("ws://")

async def test_without_zenws_fixture():
    pass

@pytest.mark.usefixtures("deribit_sim")
async def test_usefixtures():
    pass
"""


def test_only_tests_using_zenws_fixtures_are_marked(tmp_path: pathlib.Path) -> None:
    (tmp_path / "test_mix.py").write_text(PROJECT_TESTS)
    res = pytest_in(tmp_path, "-q", "-rA", werror=False)
    assert "PASSED test_mix.py::test_with_fixture" in res.stdout, res.stdout + res.stderr
    assert "PASSED test_mix.py::test_usefixtures" in res.stdout
    # the project's own unmarked coroutine test stays pytest-asyncio's business (strict mode)
    assert "FAILED test_mix.py::test_without_zenws_fixture" in res.stdout


def test_the_projects_loop_scope_setting_wins(tmp_path: pathlib.Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = module\n")
    (tmp_path / "test_scope.py").write_text(
        "def test_scope(pytestconfig):\n"
        "    assert pytestconfig.getini('asyncio_default_fixture_loop_scope') == 'module'\n"
    )
    res = pytest_in(tmp_path, "-q")
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_module_asyncio_mark_keeps_its_loop_scope(tmp_path: pathlib.Path) -> None:
    (tmp_path / "pytest.ini").write_text(readme_pytest_example()[1])
    (tmp_path / "test_module_scope.py").write_text(
        "import asyncio\n"
        "import pytest\n\n"
        "pytestmark = pytest.mark.asyncio(loop_scope='module')\n"
        "LOOPS = []\n\n"
        "async def test_one(zenws_server):\n"
        "    LOOPS.append(asyncio.get_running_loop())\n\n"
        "async def test_two(zenws_server):\n"
        "    LOOPS.append(asyncio.get_running_loop())\n"
        "    assert LOOPS[0] is LOOPS[1]  # one loop for the module, as the project asked\n"
    )
    res = pytest_in(tmp_path, "-q")
    assert res.returncode == 0, res.stdout + res.stderr
