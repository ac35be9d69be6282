"""The app import graph points one way (DESIGN.md "Shape", STYLE.md §9): core at the bottom, then
users < organizations < progress, bots < documents, graph < conversations, sources < recommendations, widget <
personality, analytics < demo, webhooks. Issue 17: sources (website crawls) sits beside conversations: it
creates documents through the documents upload service; webhooks sits at the top beside demo (it receives
the domain events of documents, conversations and organizations and imports nothing above them; nothing
imports it). Issue 19: boards (vision boards) sits above everything it reads (personality, recommendations,
progress, the chat LLM client); nothing imports it. Issue 15: graph (the knowledge-graph projection) sits above
progress and below recommendations, whose graph source reads its queries; personality sits above recommendations (it
registers its re-ranking hook into the engine and uses the engine's cache); demo seeds every app.
Issue 19: interests (members' structured interests) sits on layer 3 beside progress and bots, which it may
not import either; graph and recommendations read it.

Every non-test, non-migration module of each app is parsed (ast, nothing is imported) and every
`apps.<app>` import is collected, at module level and inside functions alike (a lazy import is
still a dependency). An app may import only apps on a lower layer; apps that share a layer
(progress and bots, documents and graph, conversations and sources, recommendations and widget, personality and
analytics) may not
import each other. A fact another app reacts
to is a domain event (`apps/<app>/events.py`), never an import upwards. `workers/` and `config/` may
import anything, but an app that imports a workers module (to enqueue a task) is charged with the
apps that module imports.

Not seen here: dotted paths in strings (settings, `call_command`, lazy model references such as
`ForeignKey("bots.Bot")`) and reverse relation names in queries (`Count("documents")` on a Bot): a
lower app does not use those of an upper app either; the upper app registers what it adds (see
docs/architecture.md, "Hooks").
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

APPS_DIR = Path(__file__).resolve().parents[2]

#: lower layers first; an app may import only apps with a smaller number
LAYERS = {
    "core": 0,
    "users": 1,
    "organizations": 2,
    "interests": 3,
    "progress": 3,
    "bots": 3,
    "documents": 4,
    "graph": 4,
    "conversations": 5,
    "sources": 5,
    "recommendations": 6,
    "widget": 6,
    "personality": 7,
    "analytics": 7,
    "demo": 8,
    "webhooks": 8,
    "boards": 9,
    "outreach": 9,
}

#: Edges that contradict the order; each one would be a known debt with its reason. The list may only
#: shrink: a test fails when an edge here is gone (delete it then). Empty since issue 12: the app
#: import graph is a DAG.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def _is_app_module(path: Path, apps_dir: Path) -> bool:
    parts = path.relative_to(apps_dir).parts
    if len(parts) < 2:  # apps/__init__.py
        return False
    return not (
        "tests" in parts or "migrations" in parts or parts[-1].startswith("test_") or parts[-1] == "conftest.py"
    )


def _module_name(path: Path, apps_dir: Path) -> list[str]:
    parts = ["apps", *path.relative_to(apps_dir).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(node: ast.AST, path: Path, apps_dir: Path) -> list[list[str]]:
    """Absolute dotted names (as part lists) that one import statement reaches."""
    if isinstance(node, ast.Import):
        return [alias.name.split(".") for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: resolved against the module's package
        package = _module_name(path, apps_dir)
        if path.name != "__init__.py":
            package = package[:-1]
        base = package[: len(package) - (node.level - 1)]
    else:
        base = []
    module = [*base, *(node.module.split(".") if node.module else [])]
    # `from apps import progress` names the app in the imported name, not in the module
    return [[*module, alias.name] for alias in node.names] if module == ["apps"] else [module]


def _module_file(root: Path, name: list[str]) -> Path | None:
    for candidate in (root.joinpath(*name).with_suffix(".py"), root.joinpath(*name, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _names(path: Path, apps_dir: Path) -> list[tuple[list[str], int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [(name, node.lineno) for node in ast.walk(tree) for name in _imported(node, path, apps_dir)]


def _through_workers(root: Path, name: list[str], seen: set[Path]) -> list[tuple[str, str]]:
    """(app, "workers/...py:line") of the apps a workers module reaches, following workers imports:
    an app that imports a task reaches the apps that task imports."""
    path = _module_file(root, name)
    if path is None or path in seen:
        return []
    seen.add(path)
    reached = []
    for imported, line in _names(path, root / "apps"):
        if len(imported) > 1 and imported[0] == "apps":
            reached.append((imported[1], f"{path.relative_to(root)}:{line}"))
        elif imported and imported[0] == "workers":
            reached += _through_workers(root, imported, seen)
    return reached


def app_imports(apps_dir: Path = APPS_DIR) -> dict[tuple[str, str], list[str]]:
    """{(importing app, imported app): ["apps/x/y.py:12", ...]} for imports between different apps,
    directly or through a `workers` module the app imports (a task enqueued by a service)."""
    root = apps_dir.parent
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(apps_dir.rglob("*.py")):
        if not _is_app_module(path, apps_dir):
            continue
        app = path.relative_to(apps_dir).parts[0]
        for name, line in _names(path, apps_dir):
            where = f"{path.relative_to(root)}:{line}"
            if len(name) > 1 and name[0] == "apps" and name[1] != app:
                edges[(app, name[1])].append(where)
            elif name and name[0] == "workers":
                for target, via in _through_workers(root, name, set()):
                    if target != app:
                        edges[(app, target)].append(f"{where} via {via}")
    return dict(edges)


def upward_edges(edges: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[str]]:
    """Edges to an app on the same or a higher layer (unknown apps count as violations too)."""
    return {
        (source, target): where
        for (source, target), where in edges.items()
        if LAYERS.get(target, len(LAYERS)) >= LAYERS.get(source, -1)
    }


@pytest.fixture(scope="module")
def edges():
    return app_imports()


def test_every_app_has_a_layer():
    apps = {path.parent.name for path in APPS_DIR.glob("*/apps.py")}
    assert apps == set(LAYERS)


def test_core_imports_no_app(edges):
    assert {target: where for (source, target), where in edges.items() if source == "core"} == {}


def test_users_organizations_and_progress_do_not_import_recommendations(edges):
    reaching = {key: where for key, where in edges.items() if key[1] == "recommendations"}
    assert not [key for key in reaching if key[0] in ("users", "organizations", "progress")], reaching


def test_apps_import_only_apps_below_them(edges):
    new = {key: where for key, where in upward_edges(edges).items() if key not in KNOWN_UPWARD}
    assert new == {}, (
        "an app imports an app on its own or a higher layer; send a domain event (apps/<app>/events.py) "
        "and let the higher app receive it, or move the code down"
    )


def test_the_app_graph_has_no_cycle(edges):
    """Issue 12: the import graph between apps is a DAG (peeling apps that import nothing left
    removes every app), whatever the layer numbers say."""
    remaining = {app for edge in edges for app in edge} | set(LAYERS)
    while True:
        leaves = {app for app in remaining if not any(s == app and t in remaining for s, t in edges)}
        if not leaves:
            break
        remaining -= leaves
    assert remaining == set(), {key: where for key, where in edges.items() if set(key) <= remaining}


def test_known_upward_edges_still_exist(edges):
    """When a known debt is paid, it leaves KNOWN_UPWARD (the list only shrinks)."""
    assert [key for key in KNOWN_UPWARD if key not in edges] == []


def test_the_check_sees_lazy_relative_and_package_imports(tmp_path):
    """The checker itself: an upward import inside a function, a relative one, `from apps import x`,
    `import apps.x.y` and one through a workers module are all found; tests and migrations are not read."""
    apps_dir = tmp_path / "apps"
    files = {
        "progress/services.py": "def f():\n    from apps.recommendations.cache import bump\n",
        "progress/events.py": "from . import models\nfrom .models import Item\n",
        "users/services.py": "from apps import organizations\n",
        "organizations/api/views.py": "import apps.recommendations.graph_sync\nfrom ..models import Org\n",
        "core/health.py": "from apps.core.graph import graph_query\n",
        "users/tests/test_x.py": "from apps.recommendations import models\n",
        "users/migrations/0001_initial.py": "from apps.progress import models\n",
        "bots/services.py": "from workers.tasks.bots import task\n",
    }
    (tmp_path / "workers" / "tasks").mkdir(parents=True)
    (tmp_path / "workers" / "tasks" / "bots.py").write_text("from workers.tasks.base import Base\n")
    (tmp_path / "workers" / "tasks" / "base.py").write_text("def f():\n    from apps.documents import services\n")
    for name, text in files.items():
        (apps_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (apps_dir / name).write_text(text)
    found = app_imports(apps_dir)
    assert found == {
        ("bots", "documents"): ["apps/bots/services.py:1 via workers/tasks/base.py:2"],
        ("organizations", "recommendations"): ["apps/organizations/api/views.py:1"],
        ("progress", "recommendations"): ["apps/progress/services.py:2"],
        ("users", "organizations"): ["apps/users/services.py:1"],
    }
    assert set(upward_edges(found)) == set(found)  # all four point upwards
