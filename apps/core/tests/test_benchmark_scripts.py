"""The scripts in benchmarks/ stay runnable: each one parses, and every name one of them imports from a sibling
(`from retrieval_quality import PG_DOCS`) is still defined there. Benchmarks run by hand, outside the suite, so a
rename in one (DOCS -> PG_DOCS) once broke two others unnoticed until the next measurement."""

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))


def top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def test_there_are_benchmarks():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_imports_from_sibling_benchmarks_resolve(script):
    tree = ast.parse(script.read_text(), filename=str(script))
    siblings = {path.stem: path for path in SCRIPTS}
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in siblings:
            defined = top_level_names(ast.parse(siblings[node.module].read_text()))
            missing += [f"{node.module}.{alias.name}" for alias in node.names if alias.name not in defined]
    assert not missing, f"{script.name} imports names its siblings no longer define: {missing}"
