"""The import rules of docs/architecture.md, checked on the source tree.

- No import circles between modules, nor between packages: two packages never import
  each other, even through others (each of ``consumer``'s subpackages is one node, each
  root module its own). Imports inside functions and under TYPE_CHECKING count too: a
  lazy import still couples two packages, and a circle hidden in a function is still a
  circle.
- The service's packages never import the tooling packages (bench, chaos, demo, the
  reference producer, the local broker/cluster), not even lazily; only the CLI edge
  (``consumer.commands``) and the tooling itself may.
- ``moodstream run`` loads none of the tooling, checked in a fresh interpreter by reading
  ``sys.modules`` after the CLI has parsed ``run`` and the service's modules are imported.
- Nothing but the package's face, the CLI entry, settings and the short list of
  cross-cutting modules sits at the root of ``consumer/``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "consumer"
TOOLING = (
    "consumer.bench",
    "consumer.chaos",
    "consumer.demo",
    "consumer.localkafka",
    "consumer.producer",
)
EDGE = ("consumer.commands", "consumer.cli", "consumer.__main__", *TOOLING)
ROOT_MODULES = {
    "__init__.py",  # the package's face
    "__main__.py",  # python -m consumer
    "cli.py",  # the moodstream command
    "settings.py",  # the one settings object
    "settings_env.py",  # what MOODSTREAM_* means to it
    "settings_client.py",  # its group of librdkafka client timeouts
    "settings_txn.py",  # the exactly-once recovery budget its validation checks
    "errors.py",  # the error tree every package raises from
    "clock.py",  # time, injected everywhere
    "logs.py",  # structured log lines, used by every package
}
RUN_PATH = (
    "consumer.commands.run",
    "consumer.service.supervisor",
    "consumer.service.worker",
    "consumer.service.wiring",
    "consumer.engine.runner",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every consumer module ``path`` imports, at any depth of the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module in known:
                yield node.module
            for alias in node.names:
                if f"{node.module}.{alias.name}" in known:
                    yield f"{node.module}.{alias.name}"


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: set(_imports(path, known)) - {name} for name, path in known.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _package(module: str) -> str:
    """The node ``module`` belongs to: ``consumer.engine.runner`` -> ``consumer.engine``;
    a root module (``consumer.settings``) and the package's face (``consumer``) stand alone."""
    return ".".join(module.split(".")[:2])


def _package_graph() -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for name, deps in _graph().items():
        node = _package(name)
        packages.setdefault(node, set()).update(_package(d) for d in deps)
    return {node: deps - {node} for node, deps in packages.items()}


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_packages_group_their_modules() -> None:
    assert _package("consumer.engine.txn_seek") == "consumer.engine"
    assert _package("consumer.settings") == "consumer.settings"
    graph = _package_graph()
    assert "consumer.kafka" in graph["consumer.engine"]  # the check sees real edges
    assert "consumer.engine" not in graph["consumer.engine"]


def test_no_two_packages_import_each_other() -> None:
    """Not even through a third one, nor lazily: engine -> observability -> engine was a
    circle no module-level check saw (observability.recorder, now engine.recorder)."""
    assert _circles(_package_graph()) == []


def test_the_service_never_imports_the_tooling() -> None:
    offenders = {
        name: sorted(d for d in deps if d.startswith(TOOLING))
        for name, deps in _graph().items()
        if not name.startswith(EDGE)
    }
    assert {name: deps for name, deps in offenders.items() if deps} == {}


def test_moodstream_run_loads_none_of_the_tooling() -> None:
    script = (
        "import importlib, json, sys\n"
        "from consumer.cli import build_parser\n"
        "build_parser(['run']).parse_args(['run'])\n"
        f"for name in {list(RUN_PATH)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert set(RUN_PATH) <= set(loaded)  # the check saw the service
    assert [m for m in loaded if m.startswith(TOOLING)] == []


def test_the_root_of_the_package_holds_only_the_listed_modules() -> None:
    assert {p.name for p in PACKAGE.glob("*.py")} == ROOT_MODULES


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 12, f"{init.relative_to(REPO)} needs a docstring"
