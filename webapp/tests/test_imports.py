"""The apps depend one way: read from every import statement in the code
(those inside functions too, which run later but still tie modules)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("webapp", "digits", "models", "training")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def code_modules() -> dict[str, Path]:
    """Every module of the apps that the site runs: no tests, no migrations."""
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts):
                found[module_name(path)] = path
    return found


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that the file at ``path`` (module ``name``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known} - {name}


def import_graph() -> dict[str, set[str]]:
    modules = code_modules()
    return {name: imported(path, name, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_is_read_from_the_code():
    graph = import_graph()
    assert "training.services" in graph["training.tasks"]  # from .services import ...
    assert "training.pipeline" in graph["training.services"]  # imported inside a function
    assert "digits.selectors" in graph["training.selectors"]  # from digits.selectors import ...
    assert "digits.review.views" in graph["digits.review.urls"]  # from . import views
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back_through_others():
    assert cycles(import_graph()) == []


def test_the_registry_and_serving_know_nothing_of_drawings_or_training():
    wrong = {
        (name, target)
        for name, targets in import_graph().items()
        if name.split(".")[0] == "models"
        for target in targets
        if target.split(".")[0] in ("digits", "training")
    }
    assert wrong == set()


def test_the_registry_tables_point_at_nothing_of_drawings_or_training():
    """Imports are not the only tie: a foreign key from a registry table to a
    training or drawings table ties the schema (and the migrations) the
    wrong way.  Training points at the versions it made (TrainingRun.result)."""
    from django.apps import apps

    wrong = {
        f"{model.__name__}.{field.name} -> {field.related_model._meta.label}"
        for model in apps.get_app_config("models").get_models()
        for field in model._meta.get_fields()
        if field.is_relation and field.related_model is not None and field.concrete
        if field.related_model._meta.app_label in ("digits", "training")
    }
    assert wrong == set()
