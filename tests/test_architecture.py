"""The shape of the package: no import cycles, computation never imports plotting, small modules, imports at the top.

The import graph is read from the source (every ``import`` statement, also those inside functions, except
under ``if TYPE_CHECKING:``), so a cycle hidden behind a lazy import is still a cycle.

A samlab module imports samlab at the top of the file. An import of samlab inside a function needs a written
reason (an optional dependency it pulls in, the command line's start-up time, or a real import cycle) in a
``#`` comment on the import's own line, or on a comment line directly above the import or directly above the
contiguous run of import lines it belongs to::

    def sweep_command(args):
        from . import sweep  # optional dependency: samlab.sweep needs submitit (the cluster extra)
"""
from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "samlab"
#: Modules allowed to import plots/widgets: the presentation layer and the entry points.
PRESENTATION = ("samlab.plots", "samlab.widgets", "samlab.cli", "samlab.doctor", "samlab.notebooks")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """samlab modules that ``name`` imports (resolved to the longest known module name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()

    def resolve(target: str) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("samlab"):
                        resolve(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                if not mod.startswith("samlab"):
                    continue
                for alias in child.names:  # `from . import train` imports the module samlab.train
                    sub = f"{mod}.{alias.name}"
                    resolve(sub if sub in known else mod)
            visit(child)

    visit(tree)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package importing its own submodules (re-exports) and a submodule importing its
            # package's siblings is the normal shape of a package, not a cycle between concepts.
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _find_cycle({"p": {"p.x"}, "p.x": {"p"}}) is None  # a package and its own submodule


def test_the_import_reader_sees_lazy_imports(tmp_path):
    src = tmp_path / "samlab" / "m.py"
    src.parent.mkdir()
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .t import X\n"
                   "def f():\n    from . import train\n    from .runs import RunStore\n")
    assert _imports("samlab.m", src, {"samlab.m", "samlab.t", "samlab.train", "samlab.runs"}) == {
        "samlab.train", "samlab.runs"}


def test_no_import_cycles():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_computation_never_imports_plotting():
    offenders = [f"{m} imports {t}" for m, targets in _graph().items()
                 if not m.startswith(PRESENTATION)
                 for t in targets if t.startswith(("samlab.plots", "samlab.widgets"))]
    assert not offenders, offenders


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_stay_small(name):
    lines = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: one concept per module (~400 lines at most)"


def test_no_module_level_getattr_shims():
    """0.x: moved names are not re-exported lazily (only the package roots load submodules on first use)."""
    allowed = {"samlab", "samlab.experiments"}
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        has = any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)
        assert not has or name in allowed, f"{name} defines a module __getattr__"


def test_every_samlab_import_names_a_module_that_exists():
    """A relative import inside a function (never run by an import) must still point at a real module."""
    known = set(_modules())
    missing = []
    for name, path in _modules().items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
                if mod not in known:
                    missing.append(f"{name}: from {'.' * node.level}{node.module or ''} -> {mod}")
    assert not missing, missing


def _unexplained_local_imports(path: Path, root: Path = PKG.parent) -> list[str]:
    """``path:line: import`` for each samlab import inside a function without a written reason (module docstring)."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    comments = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    tree = ast.parse(source)
    import_lines = {n for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for n in range(node.lineno, node.end_lineno + 1)}

    def internal(node: ast.AST) -> bool:
        if isinstance(node, ast.ImportFrom):
            return bool(node.level) or (node.module or "").startswith("samlab")
        return isinstance(node, ast.Import) and any(a.name.startswith("samlab") for a in node.names)

    def explained(node: ast.stmt) -> bool:
        if comments & set(range(node.lineno, node.end_lineno + 1)):
            return True
        above = node.lineno - 1
        while above in import_lines and above not in comments:   # the run of imports it belongs to
            above -= 1
        return above in comments and lines[above - 1].lstrip().startswith("#")

    out = []
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if internal(node) and not explained(node):
                    out.append((node.lineno, f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}"))
    return [text for _, text in sorted(set(out))]


def test_the_local_import_reader_wants_a_reason(tmp_path):
    src = tmp_path / "samlab" / "m.py"
    src.parent.mkdir()
    src.write_text("from . import paths\n"
                   "def f():\n    from . import train\n"                                  # no reason: flagged
                   "def g():\n    from . import sweep  # optional dependency: submitit\n"  # reason on its line
                   "def h():\n    # a real cycle: runs imports train\n    from . import train\n    from . import runs\n"
                   "def k():\n    import numpy as np\n")                                   # not samlab: free
    assert _unexplained_local_imports(src, tmp_path) == ["samlab/m.py:3: from . import train"]


def test_samlab_imports_inside_functions_say_why():
    """See the module docstring: internal imports sit at the top unless a comment says why they cannot."""
    offenders = [hit for path in _modules().values() for hit in _unexplained_local_imports(path)]
    assert not offenders, "samlab imports inside functions without a reason:\n" + "\n".join(offenders)


#: The measures take a model and data: they never reach up to the trainer, the store or the studies.
MEASURES = ("samlab.noise", "samlab.analog", "samlab.sharpness", "samlab.evaluate", "samlab.batchnorm",
            "samlab.weights", "samlab.perturbation", "samlab.optim")
ABOVE_MEASURES = ("samlab.train", "samlab.runs", "samlab.experiments", "samlab.sweep", "samlab.papers")


def test_the_measures_know_nothing_of_the_trainer_or_the_store():
    graph = _graph()
    bad = sorted((name, dep) for name, deps in graph.items() if name.startswith(MEASURES)
                 for dep in deps if dep.startswith(ABOVE_MEASURES))
    assert not bad, f"a measure imports the layer above it: {bad}"
