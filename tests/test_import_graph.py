"""The import graph of the package: arrows point down (mlp -> io -> backends -> kernels; the tools
above mlp), and there is no cycle. Imports inside functions (lazy by design: optional
dependencies, the CLI's commands) count too: a lazy import is still an arrow."""

import ast
from pathlib import Path

import mlpkit

PACKAGE = Path(mlpkit.__file__).resolve().parent
#: lower rank = lower layer; a module may import only from its own rank or lower
RANKS = {"_version": 0, "kernels": 0, "backends": 1, "io": 2, "mlp": 3}
TOP = 4  # everything else below the package root: cli, bench, onnx, datasets, ...


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__") or "__init__"


def _rank(module: str) -> int:
    if module == "__init__":
        return TOP  # the public face: the tools above mlp may use it (the cycle test keeps it honest)
    return RANKS.get(module.split(".")[0], TOP)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Package-relative module names one ``from ... import ...`` statement refers to."""
    if node.level == 0:
        if not (node.module or "").startswith("mlpkit"):
            return []
        base = node.module.split(".")[1:]
    else:
        here = module.split(".") if module != "__init__" else []
        keep = len(here) - node.level + (1 if is_package else 0)
        base = here[:keep] + (node.module.split(".") if node.module else [])
    submodules = [base + [a.name] for a in node.names  # "from . import threads" imports a submodule
                  if PACKAGE.joinpath(*base, a.name).with_suffix(".py").exists() or PACKAGE.joinpath(*base, a.name).is_dir()]
    if submodules and len(submodules) == len(node.names):
        return [".".join(m) for m in submodules]
    return [".".join(base) if base else "__init__"] + [".".join(m) for m in submodules]  # "__init__": the root package


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        deps = set()
        for n in ast.walk(tree):  # module level and inside functions alike
            if isinstance(n, ast.ImportFrom):
                deps.update(_resolve(module, path.name == "__init__.py", n))
            elif isinstance(n, ast.Import):
                deps.update(a.name.split(".", 1)[1] for a in n.names if a.name.startswith("mlpkit."))
        graph[module] = {d for d in deps if d and d != module}
    return graph


def test_arrows_point_down():
    upward = [(m, d) for m, deps in _graph().items() for d in deps if _rank(d) > _rank(m)]
    assert upward == [], f"imports from a lower layer to a higher one: {upward}"


def test_no_cycle():
    graph = _graph()
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            dep = dep if dep in graph else dep.rsplit(".", 1)[0] if dep.rsplit(".", 1)[0] in graph else dep
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep in graph and dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], f"import cycles: {cycles}"


def test_the_graph_is_read():
    graph = _graph()
    assert "kernels.numba_cpu" in graph["backends.numba_backend"]
    assert "backends" in graph["mlp.model"] or "backends.base" in graph["mlp.model"]
    assert "io.onnx" in graph["io.any_model"]  # an import inside a function is an arrow too
    assert "io.sklearn" in graph["mlp.model"] and not any(d.startswith("mlp") for d in graph["io.sklearn"])
