"""The house's rules, checked on the code itself (docs/architecture.md draws the house):

1. Nothing outside a cell kind's own modules dispatches on cell kinds: no comparison with a kind's
   name, no class-name (`__name__`) dispatch, no isinstance with a kind's public class, no reading
   of a kind's own options. Everything kind-specific is asked of the layer's `kind`.
2. Imports run one way, from the command line down to the engine, with no circles; the engine
   imports nothing but numpy (numba only in the compiled kernels).
"""

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from rnnlab.nn import cells, recurrent

PACKAGE = Path(__file__).resolve().parents[1] / "rnnlab"


def _kind_modules() -> set[Path]:
    """The files that belong to the registered kinds: cells/<kind>.py and their compiled kernels."""
    files = set()
    for name in cells.names():
        kind = cells.get(name)
        modules = [type(kind).__module__] + [p.partition(":")[0] for p in (kind.compiled_run, kind.compiled_step) if p]
        files |= {PACKAGE.parent / (m.replace(".", "/") + ".py") for m in modules}
    return files


def _dispatch_patterns() -> list[re.Pattern]:
    names = "|".join(re.escape(n) for n in cells.names())
    classes = "|".join(cls.__name__ for cls in [*recurrent._LAYERS.values(), *recurrent._CELLS.values()])
    options = "|".join(sorted({o for n in cells.names() for o in cells.get(n).options}))
    return [
        # class-name dispatch (the script idiom `if __name__ == "__main__"` aside)
        re.compile(r"__name__\s*(==|!=|\bin\b)(?!\s*[\"']__main__)|\[[^\]\n]*__name__\s*\]|run_class\.__name__"),
        re.compile(rf"(==|!=)\s*[\"']({names})[\"']|[\"']({names})[\"']\s*(==|!=)"),  # x == "lstm"
        re.compile(rf"\bin\s*[(\[{{][^)\]}}\n]*[\"']({names})[\"']"),  # x in ("lstm", ...)
        re.compile(rf"startswith\(\s*[\"']({names})"),
        re.compile(rf"[\"']({names})[\"']\s*:\s*[A-Za-z_][\w.]*\s*[,}}]"),  # {"lstm": LSTM}: a class by name
        re.compile(rf"(isinstance|issubclass)\([^)]*\b({classes})\b|\btype\([^)]*\)\s+is\s+({classes})\b"),
        re.compile(rf"options(\[|\.get\()\s*[\"']({options})[\"']"),  # a kind's own option read elsewhere
    ]


def kind_dispatch(source: str) -> list[str]:
    """The lines of `source` that dispatch on cell kinds (comments and docstrings included: a
    rule written down that way is usually followed that way)."""
    patterns = _dispatch_patterns()
    return [line.strip() for line in source.splitlines() if any(p.search(line) for p in patterns)]


def test_no_code_outside_a_cell_kinds_modules_dispatches_on_cell_kinds():
    allowed = _kind_modules()
    assert PACKAGE / "nn" / "cells" / "lstm.py" in allowed and len(allowed) >= 6
    found = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in allowed and (lines := kind_dispatch(path.read_text()))
    }
    assert found == {}, found


@pytest.mark.parametrize(
    "line",
    [
        "kind = layer.run_class.__name__",
        'if cfg.model == "lstm":',
        'extra = {"nonlinearity": "relu"} if kind in ("rnn", "irnn") else {}',
        'KINDS = {"lstm": LSTM, "gru": GRU}',
        'if isinstance(module, (LSTM, LSTMCell)) and module.options["peephole"]:',
        "torch_class = nn.LSTM if type(m) is GRU else nn.RNN",
        'elif kind.startswith("lstm"):',
    ],
)
def test_the_dispatch_check_finds_what_it_forbids(line):
    assert kind_dispatch(line) == [line]


def test_the_dispatch_check_leaves_lookups_and_labels_alone():
    ok = [
        'cell: str = "lstm"  # a registered kind',
        'CELL_LABELS = {"rnn": "tanh RNN", "lstm": "LSTM"}',
        "layer = recurrent_layer(config.cell, width, hidden)",
        'if "f" in layer.kind.blocks:',
    ]
    assert kind_dispatch("\n".join(ok)) == []


# --- imports ---------------------------------------------------------------------------------------
# Each room may import the rooms below it (and itself); the package's face (rnnlab/__init__.py:
# __version__ and two lazy re-exports) stands apart.
RANKS = {
    "nn": 0,
    "data": 1,
    "models": 2,
    "train": 2,
    "demo": 2,
    "analysis": 3,
    "interop": 3,
    "runs": 3,
    "estimators": 4,
    "experiments": 5,
    "cli": 6,
    "__main__": 7,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """{module: rnnlab modules it imports}, {module: top-level outside packages it imports}, every
    import counted, the lazy ones inside functions too."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    inside, outside = defaultdict(set), defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                (inside if t.split(".")[0] == "rnnlab" else outside)[name].add(t if t in modules else t.split(".")[0])
    return inside, outside


def _room(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_imports_run_one_way_down_the_house():
    inside, _ = _import_graph()
    upward = sorted(
        f"{m} -> {t}"
        for m, targets in inside.items()
        for t in targets
        if m != "rnnlab" and t != "rnnlab" and _room(m) != _room(t) and RANKS[_room(t)] >= RANKS[_room(m)]
    )
    assert upward == []


def test_no_module_imports_itself_through_a_circle():
    inside, _ = _import_graph()
    graph = {m: {t for t in ts if t != "rnnlab"} for m, ts in inside.items() if m != "rnnlab"}
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_engine_imports_numpy_and_nothing_else_outside_the_standard_library():
    _, outside = _import_graph()
    compiled = {"rnnlab.nn.cells.jit"} | {f"rnnlab.nn.cells.{n}_compiled" for n in ("rnn", "lstm", "gru")}
    for module, packages in outside.items():
        if _room(module) != "nn":
            continue
        extra = packages - set(sys.stdlib_module_names) - {"__future__", "numpy"}
        assert extra <= ({"numba"} if module in compiled else set()), (module, extra)


# --- the command line -------------------------------------------------------------------------------
def test_the_command_line_is_a_package_of_small_modules_one_per_group():
    from rnnlab import cli

    sizes = {p.name: len(p.read_text().splitlines()) for p in (PACKAGE / "cli").glob("*.py")}
    assert not (PACKAGE / "cli.py").exists() and all(n <= 300 for n in sizes.values()), sizes
    commands = {name for action in cli.parser()._subparsers._group_actions for name in action.choices}
    assert commands == {"fit", "predict", "evaluate", "train", "sample", "resume", "eval", "export", "info", "demo",
                        "experiment", "translate", "diagnose", "study", "view", "runs", "report", "export-states",
                        "data"}  # fmt: skip


def test_every_option_an_experiment_declares_is_on_the_command_line_and_nothing_else():
    from rnnlab import cli
    from rnnlab.experiments import EXPERIMENTS

    experiment = cli.parser()._subparsers._group_actions[0].choices["experiment"]
    flags = {a.option_strings[0] for a in experiment._actions if a.option_strings}
    declared = {o.flag for e in EXPERIMENTS.values() for o in e.options}
    common = {"-h", "--debug", "--list", "--quick", "--out", "--seed", "--no-progress"}
    assert flags == declared | common
