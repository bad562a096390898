"""The package's modules import one another without a circle (lazy imports
inside functions included): each layer reads from the ones below it."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"kernels": "kernels", "net": "net", "scripts": "scripts", "bench": "bench"}


def _module(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["fusednet"] + parts)


def _imports(path, name):
    """The fusednet modules that ``path`` (module ``name``) imports anywhere in it."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}")
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph():
    files = [p for folder in PACKAGES for p in (ROOT / folder).glob("*.py")]
    names = {_module(p): p for p in files}
    graph = {}
    for name, path in names.items():
        # An import of a package's name counts as its __init__; "from . import
        # x" as the module x. Packages' own __init__ files re-export, so they
        # are left out as sources of edges.
        if path.name == "__init__.py":
            continue
        graph[name] = {t for t in _imports(path, name) if t in names and t != name
                       and names[t].name != "__init__.py"}
    return graph


def test_the_modules_import_each_other_without_a_circle():
    graph = _graph()
    assert "fusednet.net.training" in graph and "fusednet.kernels.loop" in graph
    state, cycle = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle.append(path + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycle, cycle


def test_the_driver_does_not_import_the_models():
    # The circle this replaced: net.training imported net.mlp for precompile.
    assert not {"fusednet.net.mlp", "fusednet.net.two_layer_net"} & _graph()["fusednet.net.training"]
