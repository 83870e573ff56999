"""The backend's layout rules (STYLE §4, CONTRIBUTING "An endpoint"), checked on the source.

Each resource is a package ``ymir_backend/<resource>/`` with ``routes.py`` (parse, one service call,
answer), ``service.py`` (access checks, pending rows, requests: the logic) and ``schemas.py``. Routes
never import each other: what two resources share lives in a service.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ymir_backend
from ymir_backend.api.router import ROUTERS

PACKAGE = Path(ymir_backend.__file__).parent
ROUTE_MODULES = sorted(PACKAGE.glob("*/routes.py"))
MAX_BODY_LINES = 12
"""A route's body, its docstring left out: the call's arguments may wrap, the logic may not live here."""
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _imports(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def _routes(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions decorated with ``@router.<method>(...)``."""
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            func = deco.func if isinstance(deco, ast.Call) else deco
            if isinstance(func, ast.Attribute) and func.attr in HTTP_METHODS:
                found.append(node)
    return found


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_every_resource_has_routes_service_and_schemas() -> None:
    assert len(ROUTE_MODULES) >= 12, [p.parent.name for p in ROUTE_MODULES]
    for routes in ROUTE_MODULES:
        for part in ("service.py", "schemas.py"):
            assert (routes.parent / part).is_file(), f"{routes.parent.name}/ has routes.py but no {part}"
    assert not (PACKAGE / "api" / "routes").exists(), "api/routes/ is gone: routes live in their resource"


def test_every_routes_module_is_mounted() -> None:
    mounted = {id(r) for r in ROUTERS}
    for routes in ROUTE_MODULES:
        module = __import__(f"ymir_backend.{routes.parent.name}.routes", fromlist=["router"])
        assert id(module.router) in mounted, f"{routes.parent.name}/routes.py is not in api/router.py ROUTERS"


def test_no_routes_module_imports_another() -> None:
    for routes in ROUTE_MODULES:
        own = f"ymir_backend.{routes.parent.name}.routes"
        for name in _imports(ast.parse(routes.read_text())):
            parts = name.split(".")
            assert "routes" not in parts[:3] or name.startswith(own), (
                f"{routes.relative_to(PACKAGE)} imports {name}: move what both need into a service"
            )


def test_routes_hold_no_queries_or_requests() -> None:
    """Queries and engine requests are built in services; a route that imports them does the service's
    work."""
    for routes in ROUTE_MODULES:
        for name in _imports(ast.parse(routes.read_text())):
            assert not name.startswith(("sqlalchemy", "ymir_controller")), (
                f"{routes.relative_to(PACKAGE)} imports {name}: queries and requests belong in its service"
            )


def test_route_bodies_are_short() -> None:
    checked = 0
    for routes in ROUTE_MODULES:
        for fn in _routes(ast.parse(routes.read_text())):
            checked += 1
            lines = _body_lines(fn)
            assert lines <= MAX_BODY_LINES, (
                f"{routes.relative_to(PACKAGE)}:{fn.lineno} {fn.name} has a {lines}-line body; "
                f"at most {MAX_BODY_LINES}: move the logic into the service"
            )
    assert checked >= 60, checked  # every route of the API was looked at


def test_the_rules_catch_a_breach(tmp_path: Path) -> None:
    """The scan itself: a route module importing another, and a long route, are found."""
    source = (
        "from ymir_backend.datasets.routes import ready\n"
        "@router.get('/x')\n"
        "def long() -> None:\n"
        '    """Doc."""\n' + "    x = 1\n" * (MAX_BODY_LINES + 1)
    )
    tree = ast.parse(source)
    assert "ymir_backend.datasets.routes" in _imports(tree)
    (fn,) = _routes(tree)
    assert _body_lines(fn) == MAX_BODY_LINES + 1
