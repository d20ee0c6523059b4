"""The layering of ``src/zenws``: no import cycles, no import pointing up a layer.

The import graph is built from the source (nothing is imported): every Python ``import`` and
``from ... import`` -- including the ones inside functions -- parsed with :mod:`ast` from the
``.py`` files, and every ``import``/``cimport`` line of the Cython ``.pyx``/``.pxd``/``.pxi``
files read with a regular expression.  A ``.pyx`` and its ``.pxd`` are one module; a ``.pxi``
belongs to the ``.pyx`` that includes it.  Imports under ``if TYPE_CHECKING:`` are exempt: they
never run, and annotations may name any layer.

``LAYERS`` lists the layers from the top down.  An import may point down or sideways (inside one
layer), never up, and the graph must have no cycle at all.  Outside the client, no module may
import the client's private parts (``zenws._client_*``, or a ``_private`` module of a
``zenws.client`` package).

Run ``python tests/test_architecture.py`` to print the graph and what breaks the rules.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "zenws"

# Top to bottom.  Each layer is a list of module prefixes ("zenws.cli" covers zenws.cli and
# zenws.cli.*); the longest matching prefix decides.  A module matching none is an error, so a
# new module has to be placed here on purpose.
LAYERS: list[tuple[str, list[str]]] = [
    ("entry", ["zenws", "zenws.__main__", "zenws.cli"]),
    ("testing", ["zenws.testing"]),
    ("adapters", ["zenws.adapters"]),
    ("pool", ["zenws.pool", "zenws._pool_health"]),
    ("client", ["zenws.client", "zenws._client", "zenws._connection"]),
    (
        "policy",
        [
            "zenws.reconnect",
            "zenws.heartbeat",
            "zenws._liveness",  # the dead-peer/idle timers the heartbeat strategies build on
            "zenws.ratelimit",
            "zenws._ratelimit_presets",
            "zenws.subscriptions",
            "zenws._subscriptions_dialects",
            "zenws.recording",
            "zenws.recorder",
            "zenws.rotation",  # the switch of a make-before-break rotation, without sockets
        ],
    ),
    # the exporters read the event bus (below) and format for Prometheus / OpenTelemetry
    (
        "telemetry exporters",
        ["zenws.telemetry.prometheus", "zenws.telemetry.otel", "zenws.telemetry._exporting"],
    ),
    (
        "core",
        [
            "zenws.config",
            "zenws.state",
            "zenws.message",
            "zenws.metrics",
            "zenws.registry",
            "zenws._logging",
            "zenws._build",
        ],
    ),
    ("fast", ["zenws.fast"]),
    # The compiled modules raise zenws errors and emit telemetry events, so the error types,
    # the redaction rules they apply and the event bus sit below them.
    (
        "base",
        [
            "zenws.errors",
            "zenws._error_texts",
            "zenws._redact",
            "zenws.telemetry",
            "zenws._missing",
            "zenws._version",
        ],
    ),
    # Plain data about the venues, read by every layer above (the error categories too).
    ("exchanges", ["zenws.exchanges"]),
]

# The client's private parts, in both layouts: zenws/client.py + zenws/_client_*.py, and a
# zenws/client/ package with private submodules (zenws.client._requests, ...).
CLIENT_OWNERS = ("zenws.client", "zenws._client", "zenws._connection")


def client_private(module: str) -> bool:
    """True for a module that only the client may import."""
    if module.startswith("zenws._client"):
        return True
    parts = module.split(".")
    return len(parts) >= 3 and parts[:2] == ["zenws", "client"] and parts[2].startswith("_")


def owned_by_client(module: str) -> bool:
    """True for the client's own modules (``zenws.client[.*]``, ``zenws._client*``, ...)."""
    return any(module == p or module.startswith((p + ".", p + "_")) for p in CLIENT_OWNERS)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    file: str
    line: int


def discover(src: Path) -> dict[str, list[Path]]:
    """Module name -> the files it is made of (``.py``; ``.pyx``/``.pxd``/``.pxi``)."""
    pkg = src.name
    modules: dict[str, list[Path]] = {}
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".py", ".pyx", ".pxd", ".pxi"):
            continue
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.setdefault(".".join([pkg, *parts]), []).append(path)
    # a .pxi is textually included by a .pyx: charge its imports to that module
    for name in [n for n, files in modules.items() if files[0].suffix == ".pxi"]:
        path = modules.pop(name)[0]
        owner = _includer(path, modules)
        modules.setdefault(owner or name, []).append(path)
    return modules


def _includer(pxi: Path, modules: dict[str, list[Path]]) -> str | None:
    for name, files in modules.items():
        for f in files:
            include = rf'^\s*include\s+["\']{re.escape(pxi.name)}["\']'
            if (
                f.suffix == ".pyx"
                and f.parent == pxi.parent
                and re.search(include, f.read_text(), re.M)
            ):
                return name
    return None


def _is_package(files: list[Path]) -> bool:
    return any(f.stem == "__init__" for f in files)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = (
                test.id
                if isinstance(test, ast.Name)
                else (test.attr if isinstance(test, ast.Attribute) else "")
            )
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    for sub in ast.walk(stmt):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def _python_imports(path: Path, module: str, is_pkg: bool) -> Iterator[tuple[str, list[str], int]]:
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_pkg, node.level, node.module)
            yield target, [a.name for a in node.names], node.lineno


_CY_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+c?import[ \t]+\(?([\w \t,.*]+)", re.M)
_CY_IMPORT = re.compile(r"^[ \t]*c?import[ \t]+([\w.]+(?:[ \t]*,[ \t]*[\w.]+)*)", re.M)


def _cython_imports(path: Path, module: str, is_pkg: bool) -> Iterator[tuple[str, list[str], int]]:
    text = path.read_text()
    for m in _CY_FROM.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        target = _resolve(module, is_pkg, len(m.group(1)), m.group(2) or None)
        names = [n.strip().split(" as ")[0] for n in m.group(3).split(",") if n.strip()]
        yield target, names, line
    for m in _CY_IMPORT.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        for name in m.group(1).split(","):
            yield name.strip(), [], line


def build_graph(src: Path) -> tuple[set[str], list[Edge]]:
    """All modules of the package at ``src`` and the imports between them."""
    pkg = src.name
    modules = discover(src)
    edges: list[Edge] = []
    for module, files in modules.items():
        is_pkg = _is_package(files)
        for path in files:
            reader = _python_imports if path.suffix == ".py" else _cython_imports
            for target, names, line in reader(path, module, is_pkg):
                if target != pkg and not target.startswith(pkg + "."):
                    continue
                rel = str(path.relative_to(src.parent))
                hits = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
                for dest in hits or [_known(target, modules)]:
                    if dest and dest != module:
                        edges.append(Edge(module, dest, rel, line))
    return set(modules), edges


def _known(target: str, modules: Iterable[str]) -> str:
    """The longest existing module that ``target`` names (``a.b.C`` -> ``a.b``)."""
    known = set(modules)
    parts = target.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def layer_of(module: str, layers: list[tuple[str, list[str]]] = LAYERS) -> int:
    """Index of the layer holding ``module`` (0 = top); KeyError when unplaced."""
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if "." not in prefix:  # the package itself, not everything in it
                matches = module == prefix
            else:
                matches = (
                    module == prefix
                    or module.startswith(prefix + ".")
                    or (prefix.rsplit(".", 1)[-1].startswith("_") and module.startswith(prefix))
                )
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best < 0:
        raise KeyError(module)
    return best


def find_cycles(modules: set[str], edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)  # later tests rely on the usual depth limit
    return result


def upward(edges: list[Edge], layers: list[tuple[str, list[str]]] = LAYERS) -> list[Edge]:
    return [e for e in edges if layer_of(e.source, layers) > layer_of(e.target, layers)]


def private_reaches(edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if client_private(e.target) and not owned_by_client(e.source)]


def unplaced(modules: set[str], layers: list[tuple[str, list[str]]] = LAYERS) -> list[str]:
    out = []
    for m in sorted(modules):
        try:
            layer_of(m, layers)
        except KeyError:
            out.append(m)
    return out


# --------------------------------------------------------------------------- the real tree


def test_every_module_has_a_layer() -> None:
    modules, _ = build_graph(SRC)
    assert unplaced(modules) == []


def test_no_import_cycles() -> None:
    modules, edges = build_graph(SRC)
    assert find_cycles(modules, edges) == []


def test_imports_point_down_or_sideways() -> None:
    _, edges = build_graph(SRC)
    bad = [
        f"{e.file}:{e.line}: {e.source} ({LAYERS[layer_of(e.source)][0]}) imports "
        f"{e.target} ({LAYERS[layer_of(e.target)][0]})"
        for e in upward(edges)
    ]
    assert bad == []


def test_only_the_client_imports_its_private_parts() -> None:
    _, edges = build_graph(SRC)
    assert [f"{e.file}:{e.line}: {e.source} -> {e.target}" for e in private_reaches(edges)] == []


# Private helpers at the top of the package that several layers share; any other private
# module is named after the module that owns it (``_pool_health`` belongs to ``pool``).
SHARED_HELPERS = {"_build", "_logging", "_missing", "_redact", "_version"}
# Owned by the client; they follow the rule once they move into a zenws.client package.
CLIENT_HELPERS = {"_connection", "_liveness"}


def test_private_helpers_say_which_module_owns_them() -> None:
    modules, _ = build_graph(SRC)
    public = {m.split(".")[1] for m in modules if m.count(".") >= 1 and "._" not in m}
    unowned = []
    for m in sorted(modules):
        name = m.split(".")[-1]
        if m.count(".") != 1 or not name.startswith("_") or name.startswith("__"):
            continue
        if name in SHARED_HELPERS | CLIENT_HELPERS:
            continue
        owner = name[1:].split("_")[0]
        if not ({owner, owner + "s"} & public):  # _error_texts -> errors
            unowned.append(m)
    assert unowned == []


def test_graph_sees_the_known_imports() -> None:
    """The parser finds what is there: Python, function-local and Cython imports."""
    modules, edges = build_graph(SRC)
    pairs = {(e.source, e.target) for e in edges}
    assert "zenws.fast.listener" in modules and "zenws.errors" in modules
    assert ("zenws.fast.listener", "zenws.fast.jsonrpc") in pairs  # cimport in listener.pxd
    assert any(s.startswith("zenws.cli") for s, _ in pairs)


def test_dir_shows_the_public_names_only() -> None:
    import zenws

    zenws.connect  # noqa: B018 -- binds submodules such as zenws.client in the namespace
    shown = set(dir(zenws))
    assert set(zenws.__all__) <= shown
    assert shown - set(zenws.__all__) <= {
        "__all__",
        "__doc__",
        "__file__",
        "__name__",
        "__package__",
        "__path__",
        "__spec__",
    }
    for helper in ("Any", "TYPE_CHECKING", "annotations", "importlib", "client", "config"):
        assert helper not in shown


def test_the_version_is_stated_once() -> None:
    import tomllib

    import zenws
    from zenws._version import __version__

    root = SRC.parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "zenws._version.__version__"
    }
    assert zenws.__version__ == __version__
    literal = re.compile(r"""^\s*__version__\s*=""", re.M)
    stated = [p.name for p in SRC.rglob("*.py") if literal.search(p.read_text())]
    assert stated == ["_version.py"]


# --------------------------------------------------------------------------- the checker itself


def _tree(tmp: Path, files: dict[str, str]) -> Path:
    src = tmp / "pkg"
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return src


_TOY_LAYERS = [("top", ["pkg", "pkg.top"]), ("mid", ["pkg.mid"]), ("low", ["pkg.low", "pkg.fx"])]


def test_checker_accepts_a_clean_tree(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "top.py": "from . import mid\nfrom .low import x\n",
            "mid.py": "def f():\n    from pkg import low\n",
            "low.py": (
                "x = 1\nfrom typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from . import top\n"
            ),
        },
    )
    modules, edges = build_graph(src)
    assert {(e.source, e.target) for e in edges} == {
        ("pkg.top", "pkg.mid"),
        ("pkg.top", "pkg.low"),
        ("pkg.mid", "pkg.low"),
    }
    assert find_cycles(modules, edges) == []
    assert upward(edges, _TOY_LAYERS) == []


def test_checker_finds_a_seeded_cycle_and_upward_import(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "top.py": "from . import mid\n",
            "mid.py": "from .low import x\n",
            "low.py": "def late():\n    from .mid import y  # function-local, still an edge\n",
        },
    )
    modules, edges = build_graph(src)
    assert find_cycles(modules, edges) == [["pkg.low", "pkg.mid"]]
    assert [(e.source, e.target, e.line) for e in upward(edges, _TOY_LAYERS)] == [
        ("pkg.low", "pkg.mid", 2)
    ]


def test_checker_reads_cython_cimports(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "fx/__init__.py": "",
            "fx/a.pxd": "from pkg.fx.b cimport thing\n",
            "fx/a.pyx": 'include "a_more.pxi"\ncimport cython\n',
            "fx/a_more.pxi": "from pkg.mid import z\n",
            "fx/b.pyx": "from . cimport a\n",
            "mid.py": "",
        },
    )
    modules, edges = build_graph(src)
    assert "pkg.fx.a_more" not in modules
    assert {(e.source, e.target) for e in edges} == {
        ("pkg.fx.a", "pkg.fx.b"),
        ("pkg.fx.b", "pkg.fx.a"),
        ("pkg.fx.a", "pkg.mid"),
    }
    assert find_cycles(modules, edges) == [["pkg.fx.a", "pkg.fx.b"]]
    assert [(e.source, e.target) for e in upward(edges, _TOY_LAYERS)] == [("pkg.fx.a", "pkg.mid")]


def test_checker_flags_private_client_imports_in_both_layouts() -> None:
    edges = [
        Edge("zenws.pool", "zenws._client_life", "x", 1),
        Edge("zenws.pool", "zenws.client._requests", "x", 2),
        Edge("zenws.pool", "zenws.client", "x", 3),
        Edge("zenws.client", "zenws._client_life", "x", 4),
        Edge("zenws.client._requests", "zenws.client._connection", "x", 5),
        Edge("zenws._client_subs", "zenws._client_base", "x", 6),
    ]
    assert [e.line for e in private_reaches(edges)] == [1, 2]


if __name__ == "__main__":  # a report for people
    mods, graph_edges = build_graph(SRC)
    print(f"{len(mods)} modules, {len(graph_edges)} imports")
    for m in unplaced(mods):
        print("UNPLACED", m)
    for cycle in find_cycles(mods, graph_edges):
        print("CYCLE", " ".join(cycle))
    try:
        for e in upward(graph_edges):
            print(f"UP {e.file}:{e.line} {e.source} -> {e.target}")
    except KeyError as exc:
        print("cannot rank", exc)
    for e in private_reaches(graph_edges):
        print(f"PRIVATE {e.file}:{e.line} {e.source} -> {e.target}")
