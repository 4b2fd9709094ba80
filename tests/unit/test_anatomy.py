"""The service anatomy of docs/architecture.md, checked: the same folders and module roles in
every service, flat route modules, SQL only in adapters, and the size rules. The console (a
service without business data or events) follows the rules that apply to it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "certification", "incentives", "notifications")
CONSOLE = "console"
WITH_CONSOLE = (*SERVICES, CONSOLE)
REQUIRED = (
    "app.py",
    "settings.py",
    "config.py",
    "domain/__init__.py",
    "handlers/__init__.py",
    "adapters/tables.py",
    "adapters/repository.py",
    "entrypoints/routes/__init__.py",
    "entrypoints/schemas.py",
    "entrypoints/consumers.py",
    "entrypoints/jobs.py",
    "entrypoints/cli.py",
)
ROOT_MODULES = {"__init__.py", "app.py", "settings.py", "config.py"}
CONSOLE_REQUIRED = tuple(
    m for m in REQUIRED if m not in {"entrypoints/schemas.py", "entrypoints/consumers.py", "entrypoints/jobs.py"}
)
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 80
QUERY_BUILDERS = {"select", "text", "func", "insert", "update", "delete", "col", "tuple_", "and_", "or_", "case"}


def package(service: str) -> Path:
    return ROOT / "services" / service / service


def modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_folders_and_module_roles(service: str) -> None:
    pkg = package(service)
    missing = [m for m in REQUIRED if not (pkg / m).is_file()]
    assert not missing, f"{service} lacks {missing}"
    extra = sorted(p.name for p in pkg.glob("*.py") if p.name not in ROOT_MODULES)
    assert not extra, f"{service} has modules at its root outside the anatomy: {extra}"


def test_the_console_has_the_anatomy_without_events() -> None:
    """The console's parts (no consumers or jobs: it publishes and consumes nothing), its pure
    domain (no HTTP, database or templates), handlers that call the services only through the
    adapter, and no broker anywhere."""
    pkg = package(CONSOLE)
    missing = [m for m in CONSOLE_REQUIRED if not (pkg / m).is_file()]
    assert not missing, f"console lacks {missing}"
    extra = sorted(p.name for p in pkg.glob("*.py") if p.name not in ROOT_MODULES)
    assert not extra, f"console has modules at its root outside the anatomy: {extra}"
    layers = {
        "domain": {"fastapi", "starlette", "httpx", "sqlalchemy", "sqlmodel", "jinja2", "console.adapters",
                   "console.handlers", "console.entrypoints", "console.config", "console.settings"},
        "handlers": {"fastapi", "starlette", "httpx", "jinja2", "console.entrypoints"},
        "adapters": {"fastapi", "starlette", "jinja2", "console.handlers", "console.entrypoints"},
        "entrypoints": {"httpx", "faststream", "aiokafka"},
    }  # fmt: skip
    for layer, forbidden in layers.items():
        for path in modules(pkg / layer):
            for name in imported(path):
                bad = [f for f in forbidden if name == f or name.startswith(f + ".")]
                assert not bad, f"{path.relative_to(ROOT)} imports {name} ({layer} must not)"
    for path in modules(pkg):
        names = imported(path)
        assert not {n for n in names if n.split(".")[0] in {"faststream", "aiokafka"}}, f"{path} uses the broker"


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("service", WITH_CONSOLE)
def test_route_and_handler_modules_are_small_and_routes_are_flat(service: str) -> None:
    pkg = package(service)
    routes = modules(pkg / "entrypoints" / "routes")
    for path in [*routes, *modules(pkg / "handlers")]:
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"
    for path in routes:
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        assigned = {
            t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
        }
        assert "router" in assigned, f"{path.relative_to(ROOT)} has no module-level router"
        nested = [
            inner.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(node)
            if inner is not node
            and isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef)
            and any(
                isinstance(d, ast.Call) and getattr(d.func, "attr", "") in {"get", "post", "put", "patch", "delete"}
                for d in inner.decorator_list
            )
        ]
        assert not nested, f"{path.relative_to(ROOT)} defines routes inside functions: {nested}"


@pytest.mark.parametrize("service", WITH_CONSOLE)
def test_sql_lives_only_in_adapters(service: str) -> None:
    pkg = package(service)
    for path in [*modules(pkg / "handlers"), *modules(pkg / "entrypoints"), *modules(pkg / "domain")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"sqlalchemy", "sqlmodel"}:
                builders = sorted({a.name for a in node.names} & QUERY_BUILDERS)
                assert not builders, f"{path.relative_to(ROOT)} imports query builders {builders}"
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
                assert not names & {"sqlalchemy", "sqlmodel"}, f"{path.relative_to(ROOT)} imports {names}"


def named_sql_builders() -> set[tuple[str, str]]:
    """The SQL builders docs/architecture.md names as exceptions to the function size rule."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    return set(re.findall(r"^- `([\w/]+\.py): (\w+)`", text, re.MULTILINE))


def test_no_function_is_over_80_lines_except_the_named_sql_builders() -> None:
    allowed = named_sql_builders()
    assert allowed, "docs/architecture.md names no SQL builders"
    long = []
    for folder in [ROOT / "services", ROOT / "shared" / "sikader_shared"]:
        for path in modules(folder):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    where = str(
                        path.relative_to(folder.parent if folder.name == "sikader_shared" else ROOT / "services")
                    )
                    short = "/".join(where.split("/")[1:]) if folder.name == "services" else where
                    if length > MAX_FUNCTION_LINES and (short, node.name) not in allowed:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_tables_are_named_row_and_there_is_no_second_outbox_writer() -> None:
    for service in WITH_CONSOLE:
        tree = ast.parse((package(service) / "adapters" / "tables.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(k, ast.keyword) and k.arg == "table" for k in node.keywords
            ):
                assert node.name.endswith("Row"), f"{service} table class {node.name} is not named ...Row"
    hits = [p for p in modules(ROOT / "services") if "ce_specversion" in p.read_text()]
    assert not hits, f"CloudEvents headers built outside the unit of work: {hits}"
