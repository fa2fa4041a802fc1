"""labkit's modules form floors: each imports only from its own floor or below, and no two import each other.

Imports inside functions count too: a cycle hidden in a function body still ties two modules together.
The floors are listed here and in docs/architecture.md ("Floors").
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "labkit"

# Bottom to top. A module not listed sits on the floor of its package (labkit.sagemaker.deploy: "labkit.sagemaker").
FLOORS = [
    # 0: no labkit imports at all - formats, tables and plain helpers
    {"labkit.netguard", "labkit.chapters", "labkit.exercises", "labkit.generation", "labkit.prompts",
     "labkit.lifecycle", "labkit.sandbox", "labkit.sandbox_child", "labkit.shop"},
    # 1: profiles, the role table, sizes and the cache
    {"labkit", "labkit.config", "labkit.cache"},
    # 2: the role registry and loaders (models: "dialogues" is a role too), the data and the tiny stand-ins.
    #    models reaches a tiny builder by name (importlib), so the registry sits below the builders it calls.
    {"labkit.models", "labkit.data", "labkit.tiny"},
    # 3: metrics shared by many chapters (and the evaluate modules that wrap them)
    {"labkit.metrics", "labkit.evaluate_modules"},
    # 4: one topic module per chapter, and the training script built on chapter 03's
    {"labkit.pretraining", "labkit.finetune", "labkit.evaluation", "labkit.rlhf", "labkit.preference",
     "labkit.online_rl", "labkit.optimization", "labkit.rag", "labkit.agents", "labkit.sagemaker", "labkit.train",
     "labkit.architectures", "labkit.benchmarks", "labkit.optimize", "labkit.emulator", "labkit.cheatsheet"},
    # 5: what grades and runs the chapters
    {"labkit.checks", "labkit.notebooks"},
    # 6: the grader and the command line
    {"labkit.grading", "labkit.grade", "labkit.doctor", "labkit.cli"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str:
    """The labkit module an import names (``labkit.sagemaker.costs.plan`` -> ``labkit.sagemaker.costs``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(name: str) -> set[str]:
    """Every labkit module ``name`` imports, at the top or inside a function (type-checking imports too)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == "labkit"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "labkit":
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else resolve(node.module))
    return found - {name}


def floor_of(name: str) -> int:
    probe = name
    while probe:
        for level, members in enumerate(FLOORS):
            if probe in members:
                return level
        probe = probe.rpartition(".")[0]
    raise AssertionError(f"{name} is on no floor: add it to FLOORS here and in docs/architecture.md")


GRAPH = {name: imports_of(name) for name in MODULES}


def package_of(name: str) -> str:
    """The floor entry a module belongs to (itself, or the package listed in FLOORS that holds it)."""
    probe = name
    while probe and not any(probe in members for members in FLOORS):
        probe = probe.rpartition(".")[0]
    return probe


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_its_floor_or_below(name):
    up = sorted(dep for dep in GRAPH[name] if floor_of(dep) > floor_of(name))
    assert not up, f"{name} (floor {floor_of(name)}) imports {up} from a higher floor: move the shared piece down"


def test_no_import_cycles():
    """No module reaches itself through imports: within a package, between packages, or via function bodies."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(GRAPH[name]):
            # a package's __init__ re-exporting its own submodules is not a cycle of the package with itself
            if name == package_of(dep) and dep.startswith(name + "."):
                continue
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_the_layer_test_sees_function_level_imports(tmp_path):
    """The graph would miss a cycle hidden in a function body if it read only top-level imports."""
    assert "labkit.models" in imports_of("labkit.metrics")  # imported inside metrics.toxicity()
