"""pytest plugin for zenws (registered through the ``pytest11`` entry point).

Fixtures (async, run by pytest-asyncio; no configuration needed):

- ``zenws_server``: a started :class:`~zenws.testing.MockServer` (echo), stopped after the
  test.  Options through a marker: ``@pytest.mark.zenws_server(ssl=True, path="/ws")``.
- ``deribit_sim``: a started :class:`~zenws.testing.DeribitSimulator` (``deribit_sim.url``).
  Knobs through a marker: ``@pytest.mark.deribit_sim(min_heartbeat_interval=0.1, seed=3)``.

Event loops: set the ini option ``zenws_loops = asyncio uvloop`` and every async test runs
once per loop (it implements pytest-asyncio's ``pytest_asyncio_loop_factories`` hook, so it
needs pytest-asyncio >= 1.5).  Without the option the plugin adds no hook and leaves the loop
choice to the project.

Zero configuration: an ``async def`` test that requests one of these fixtures runs on
pytest-asyncio without ``@pytest.mark.asyncio`` even in its default ``strict`` mode (the
plugin adds the mark), and when the project leaves ``asyncio_default_fixture_loop_scope``
unset the plugin sets it to ``function`` (pytest-asyncio's future default), so a new project
needs no ``pytest.ini`` and gets no warning.  A project's own settings always win.

Loading this module is cheap: the server, picows and pytest-asyncio's fixture machinery are
imported only when a fixture is used (pytest-asyncio is looked up, never required).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .deribit import DeribitSimulator
    from .server import MockServer

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

_NEEDS_ASYNCIO = (
    "the zenws fixtures are async and need pytest-asyncio: "
    'pip install "zenws[testing]" (or pytest-asyncio>=1.5)'
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ``zenws_loops`` ini option."""
    parser.addini(
        "zenws_loops",
        "event loops every async test runs on, e.g. 'asyncio uvloop' "
        "(pytest-asyncio >= 1.5; unset = leave loops to the project)",
        type="args",
        default=[],
    )


#: The fixtures this plugin provides; an async test using one runs on pytest-asyncio.
FIXTURES = frozenset({"zenws_server", "deribit_sim"})


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, and the loop-factory hook when ``zenws_loops`` is set."""
    config.addinivalue_line(
        "markers", "zenws_server(**kwargs): MockServer arguments for the zenws_server fixture"
    )
    config.addinivalue_line(
        "markers", "deribit_sim(**knobs): DeribitSimulator knobs for the deribit_sim fixture"
    )
    names = list(config.getini("zenws_loops"))
    if not names:
        return
    if not hasattr(config.hook, "pytest_asyncio_loop_factories"):
        raise pytest.UsageError("zenws_loops needs pytest-asyncio >= 1.5 (its loop-factory hook)")
    config.pluginmanager.register(LoopFactories(names), "zenws-loop-factories")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Mark ``async def`` tests that request a zenws fixture with ``asyncio``.

    In pytest-asyncio's ``strict`` mode (its default) an unmarked coroutine test is not run
    ("async def functions are not natively supported"); this runs before pytest-asyncio
    turns the function into its test item, so the mark is seen.  Nothing else is marked.
    """
    if not _HAS_ASYNCIO or not inspect.iscoroutinefunction(obj):
        return
    marks = getattr(obj, "pytestmark", [])
    if any(m.name == "asyncio" for m in marks) or collector.get_closest_marker("asyncio"):
        return  # marked already (its loop_scope, if any, must stay the closest mark)
    if collector.config.getini("asyncio_mode") == "auto":
        return
    try:
        wanted = set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return
    for mark in marks:
        if mark.name == "usefixtures":
            wanted.update(mark.args)
    if wanted & FIXTURES:
        pytest.mark.asyncio(obj)


def loop_factories(names: list[str]) -> dict[str, LoopFactory]:
    """Map loop names to factories.

    Args:
        names: any of ``"asyncio"`` and ``"uvloop"``.

    Returns:
        ``name -> factory`` in the given order.

    Raises:
        pytest.UsageError: an unknown name, or uvloop requested but not installed.
    """
    factories: dict[str, LoopFactory] = {}
    for name in names:
        if name == "asyncio":
            factories[name] = asyncio.new_event_loop
        elif name == "uvloop":
            if importlib.util.find_spec("uvloop") is None:
                raise pytest.UsageError(
                    f"zenws_loops names uvloop but it is not installed ({sys.platform})"
                )
            import uvloop

            factories[name] = uvloop.new_event_loop
        else:
            raise pytest.UsageError(
                f"zenws_loops: unknown loop {name!r} (choose from 'asyncio', 'uvloop')"
            )
    return factories


class LoopFactories:
    """The ``pytest_asyncio_loop_factories`` implementation behind ``zenws_loops``."""

    def __init__(self, names: list[str]) -> None:
        """Resolve the factories once (errors surface at configure time)."""
        self.factories = loop_factories(names)

    @pytest.hookimpl(optionalhook=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> dict[str, LoopFactory]:
        """Parametrize every asyncio test over the configured loops."""
        return self.factories


def _kwargs(request: pytest.FixtureRequest, marker: str) -> dict[str, Any]:
    mark = request.node.get_closest_marker(marker)
    return dict(mark.kwargs) if mark is not None else {}


async def _server(request: pytest.FixtureRequest) -> AsyncIterator[MockServer]:
    from .server import MockServer

    async with MockServer(**_kwargs(request, "zenws_server")) as server:
        yield server


async def _deribit(request: pytest.FixtureRequest) -> AsyncIterator[DeribitSimulator]:
    from .deribit import DeribitSimulator

    async with DeribitSimulator(**_kwargs(request, "deribit_sim")).serve() as sim:
        yield sim


def _asyncio_fixture() -> Any:
    try:
        import pytest_asyncio
    except ImportError:  # absent: the fixtures below explain what to install
        return None
    return pytest_asyncio.fixture


_afixture = _asyncio_fixture()
_HAS_ASYNCIO = _afixture is not None

if _afixture is not None:
    zenws_server = _afixture(_server, name="zenws_server")
    deribit_sim = _afixture(_deribit, name="deribit_sim")
else:

    @pytest.fixture(name="zenws_server")
    def _missing_server() -> Iterator[None]:
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)
        yield None

    @pytest.fixture(name="deribit_sim")
    def _missing_deribit() -> Iterator[None]:
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)
        yield None
