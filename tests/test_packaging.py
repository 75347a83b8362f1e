"""Pins agree everywhere: pyproject.toml, requirements.lock and the conda environments."""

from __future__ import annotations

import ast
import re
import tomllib

import yaml

from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        deps += extra
    pinned = pins(deps)
    assert len(pinned) == len(deps), "every dependency in pyproject.toml is pinned with =="
    return pinned


def test_lock_file_agrees_with_pyproject() -> None:
    lock = pins((REPO / "requirements.lock").read_text().splitlines())
    for name, version in pyproject_pins().items():
        assert name in lock, f"{name} missing from requirements.lock"
        # the lock names the local build of torch (2.13.0+cpu); the public version must match
        assert lock[name].split("+")[0] == version, f"{name}: lock {lock[name]} vs {version}"


def test_conda_environments_pin_the_same_versions() -> None:
    expected = pyproject_pins()
    env_files = sorted((REPO / "envs").glob("*.yaml"))
    assert env_files, "no conda environments in envs/"
    for env_file in env_files:
        env = yaml.safe_load(env_file.read_text())
        pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
        pip_lines = [line for section in pip_sections for line in section]
        env_pins = pins(pip_lines)
        assert len(env_pins) == len(pip_lines), f"{env_file.name}: unpinned pip package"
        for name, version in env_pins.items():
            assert name in expected, f"{env_file.name}: {name} is not a talkgs dependency"
            assert version == expected[name], f"{env_file.name}: {name} {version}"
        python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
        assert python == ["python=3.11"], f"{env_file.name}: {python}"


def test_every_rule_environment_exists() -> None:
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', rules.read_text()):
            assert (rules.parent / env).resolve().is_file(), f"{rules.name}: {env}"


def talkgs_imports() -> dict[str, set[str]]:
    """Each module of ``src/talkgs`` → the talkgs modules it imports, at the top or inside a
    function (a lazy import still makes a cycle), ``if TYPE_CHECKING:`` blocks left out."""
    source = REPO / "src"
    paths = {}
    for path in sorted((source / "talkgs").rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text())
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for statement in node.body
            for inner in ast.walk(statement)
        }
        imported = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from talkgs.face import parsing` names a module
                    full = f"{node.module}.{alias.name}"
                    imported.add(full if full in paths else node.module)
        graph[name] = {module for module in imported if module in paths and module != name}
    return graph


def test_no_import_cycles() -> None:
    graph = talkgs_imports()
    assert graph["talkgs.face.sam2_parser"] and graph["talkgs.cli"]  # the walk finds imports
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycle = [*path[path.index(imported) :], imported]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
