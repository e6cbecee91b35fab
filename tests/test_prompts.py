"""Prompts ship as files inside the package and load through one function."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import prompts

ROOT = Path(__file__).resolve().parents[1]


def test_every_prompt_file_loads() -> None:
    names = prompts.available()
    assert "system" in names
    for name in names:
        text = prompts.load(name)
        assert text.strip(), f"prompt {name} is empty"


def test_system_prompt_forbids_computing_numbers() -> None:
    assert "Never compute" in prompts.load("system")


def test_missing_prompt_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match="no prompt named 'nope'"):
        prompts.load("nope")


def test_every_prompt_referenced_in_code_exists() -> None:
    referenced = set()
    for path in [*ROOT.joinpath("assistant").rglob("*.py"), *ROOT.joinpath("tools").rglob("*.py")]:
        referenced |= set(re.findall(r"prompts\.load\(\s*[\"']([\w-]+)[\"']", path.read_text(encoding="utf-8")))
    assert referenced <= set(prompts.available()), referenced - set(prompts.available())


def test_prompts_ship_in_the_wheel(tmp_path: Path) -> None:
    """Build the wheel as pip would and look inside: the prompt files, the packages, the console script."""
    completed = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (wheel,) = tmp_path.glob("whyscope-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "whyscope = assistant.cli:main" in archive.read(entry_points).decode()
    for prompt in prompts.available():
        assert f"prompts/{prompt}.md" in names
    assert {"tools/py.typed", "assistant/py.typed", "tools/power/formulas.py", "tools/data/loading.py"} <= names
    assert "assistant/example_data/checkout.csv" in names  # the app's built-in example data
    assert "assistant/tui/app.tcss" in names
    assert not any(n.startswith("tests/") for n in names)
