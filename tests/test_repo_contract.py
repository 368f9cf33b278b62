"""Promises the repository makes to its users and CI: the quick start, lint, types."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_ci_runs_exactly_readmes_test_command() -> None:
    run, test = quick_start_commands()
    assert run.endswith("hub serve")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci_lines


def test_ruff_lint_and_format() -> None:
    lint = subprocess.run(
        [VENV_BIN / "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [VENV_BIN / "ruff", "format", "--check", "hub", "plugins", "adapters", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_strict() -> None:
    result = subprocess.run(
        [VENV_BIN / "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=170
    )
    assert result.returncode == 0, result.stdout


def test_generated_reference_docs_are_current() -> None:
    from hub.reference import config_markdown, events_markdown

    assert (ROOT / "docs" / "events.md").read_text() == events_markdown(), (
        "regenerate: hub reference events > docs/events.md"
    )
    assert (ROOT / "docs" / "configuration.md").read_text() == config_markdown(), (
        "regenerate: hub reference config > docs/configuration.md"
    )


def test_every_hook_is_documented_with_its_signature_and_tested() -> None:
    import inspect

    from hub import hookspecs

    docs = (ROOT / "docs" / "plugins.md").read_text()
    tests = (ROOT / "tests" / "test_plugins.py").read_text()
    hooks = [
        n
        for n, f in vars(hookspecs).items()
        if inspect.isfunction(f) and hasattr(f, "clinical_hub_spec")
    ]
    assert hooks, "no hook specs found"
    for name in hooks:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({params})" in docs, f"{name}({params}) is not documented"
        assert f"def {name}(" in tests, f"{name} has no test implementation"
