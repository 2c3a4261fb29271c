"""The package layering of pyproject.toml's `[tool.importlinter]` holds: commands on top, generation and trainers
independent of each other, the base package at the bottom, no import cycle inside a package (import-linter). The
project's own modules are imported at the top of a module; an import inside a function (an optional heavy dependency,
kept out of `--help`) says why in a comment on its line or the line above."""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OWN_PACKAGES = ("erc_synth", "erc_synth_datasets", "generation", "trainers")


def test_import_contracts_are_kept():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports is not installed: install the dev extras (`make install-dev`).")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def _own_modules(path: Path, root: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project's own modules that `node` imports (a relative import always names one), as dotted names."""
    if isinstance(node, ast.ImportFrom) and node.level:
        package = path.relative_to(root).with_suffix("").parts[:-1]  # the file's package, `__init__.py` included
        base = package[: len(package) - node.level + 1]
        return [".".join([*base, *([node.module] if node.module else [])])]
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
    return [name for name in names if name.split(".")[0] in OWN_PACKAGES]


def unexplained_function_imports(root: Path) -> list[str]:
    """`file:line  module` for every import of an own module inside a function of the packages under `root` with no
    comment at the end of its line or on the line above (a line of its own, not the end of a statement)."""
    found = []
    for package in OWN_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            tokens = tokenize.generate_tokens(io.StringIO(source).readline)
            comments = [token for token in tokens if token.type == tokenize.COMMENT]
            commented = {token.start[0] for token in comments}  # a comment at the end of the line counts
            comment_lines = {token.start[0] for token in comments if token.line.lstrip().startswith("#")}
            imports = {
                node
                for function in ast.walk(ast.parse(source, filename=str(path)))
                if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                for node in ast.walk(function)
                if isinstance(node, (ast.Import, ast.ImportFrom))
            }
            for node in sorted(imports, key=lambda node: node.lineno):
                if node.lineno in commented or node.lineno - 1 in comment_lines:
                    continue
                found += [f"{path.relative_to(root)}:{node.lineno}  {name}" for name in _own_modules(path, root, node)]
    return found


def test_function_level_imports_of_own_modules_say_why():
    unexplained = unexplained_function_imports(REPO)
    assert not unexplained, (
        "Import these at the top of the module, or, for an optional heavy dependency, keep the import in the "
        "function with a one-line reason on the line above (e.g. `# heavy: loads torch; ...`):\n"
        + "\n".join(unexplained)
    )
