"""Prompts ship as files inside the package and load through one function."""

from __future__ import annotations

import re
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


def test_prompts_are_packaged_in_the_wheel() -> None:
    pyproject = ROOT.joinpath("pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'packages = \[[^\]]*"prompts"', pyproject)
