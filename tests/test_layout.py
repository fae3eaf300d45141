"""The architecture as a test: imports point one way, with no cycle, also
through imports inside functions; `charnn --help` needs no NumPy."""

import ast
import subprocess
import sys
from pathlib import Path

import charnn

SRC = Path(charnn.__file__).parent

# A module may import from its own package or from a lower layer only.
LAYERS = {
    "errors": 0,
    "fsio": 0,
    "words": 0,
    "nn": 1,
    "data": 1,
    "engine": 2,
    "run": 3,
    "report": 4,
    "sweep": 5,
    "cli": 6,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every charnn module that path imports, at any depth of its code."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base.startswith("charnn"):
                found.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("charnn"))
    return found


def owner(module: str) -> str | None:
    """The top-level part of charnn a module belongs to (None: the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in SRC.rglob("*.py")}
    g = {}
    for name, path in files.items():
        targets = set()
        for imp in imports(path):
            while imp not in files and "." in imp:  # `from pkg import name` of a non-module
                imp = imp.rpartition(".")[0]
            if imp != name:
                targets.add(imp)
        g[name] = targets
    return g


def test_every_package_has_a_layer():
    tops = {owner(module_name(p)) for p in SRC.rglob("*.py")} - {None, "__main__"}
    assert tops <= set(LAYERS), tops - set(LAYERS)


def test_imports_point_down_the_layers():
    wrong = []
    for mod, targets in graph().items():
        a = owner(mod)
        if a is None or a == "__main__":
            continue
        for t in targets:
            b = owner(t)
            if b is not None and b != a and LAYERS[b] >= LAYERS[a]:
                wrong.append(f"{mod} -> {t}")
    assert not wrong, wrong


def test_no_import_cycles():
    g = graph()
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in g.get(node, ()):
            if state.get(nxt) == "open":
                raise AssertionError(" -> ".join(path + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = "done"

    for node in g:
        if node not in state:
            visit(node, [])


def test_the_detector_sees_function_level_imports():
    # cli/train.py imports the report only inside the functions that need it
    found = imports(SRC / "cli" / "train.py")
    assert "charnn.report.single.write_report" in found
    assert "charnn.run.loop.Run" in found


def test_help_imports_no_numpy():
    code = (
        "import sys\nfrom charnn.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
