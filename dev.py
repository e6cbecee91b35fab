#!/usr/bin/env python3
"""Set up whyscope in a local virtual environment and run it, its tests or its linters.

    python3 dev.py              # set up .venv on first use, then open whyscope on its built-in default
    python3 dev.py test [ARGS]  # set up .venv with the test extras, then run the whole test suite (pytest ARGS)
    python3 dev.py lint         # ruff and mypy (strict)
    python3 dev.py bench        # the benchmarks in benchmarks/
    python3 dev.py run [ARGS]   # whyscope ARGS, e.g. `python3 dev.py run tool list`

Needs only python3 (3.11 or newer) and pip; everything else comes from the package index into ``.venv``
(or the folder named by ``WHYSCOPE_VENV``). The install is redone only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("WHYSCOPE_VENV", ROOT / ".venv")).resolve()
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _say(text: str) -> None:
    print(f"[dev] {text}", file=sys.stderr, flush=True)


def _pip(*args: str) -> None:
    """pip inside the venv; if the venv has no pip (Debian without python3-venv), the host pip drives it."""
    if (BIN / "pip").exists() or (BIN / "pip.exe").exists():
        cmd = [str(PYTHON), "-m", "pip", *args]
    else:
        cmd = [sys.executable, "-m", "pip", "--python", str(PYTHON), *args]
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        sys.exit("[dev] pip could not install whyscope (its message is above); nothing else was run.")


def ensure_env(extras: str = "") -> None:
    """Create the venv if needed and install whyscope (editable) with ``extras`` if pyproject changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on the host python, before any check
        sys.exit(f"whyscope needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        _say(f"creating a virtual environment in {VENV}")
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (subprocess.CalledProcessError, OSError):
            _say("ensurepip is unavailable here; creating the venv without pip and using the host pip")
            venv.EnvBuilder(with_pip=False, clear=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".whyscope-installed"
    have = stamp.read_text().split() if stamp.exists() else []
    if wanted in have:
        return
    target = f".[{extras}]" if extras else "."
    _say(f"installing whyscope{f'[{extras}]' if extras else ''} into {VENV} (first run takes a minute or two)")
    _pip("install", "-qq", "--disable-pip-version-check", "--editable", target)
    stamp.write_text("\n".join([*have, wanted]) + "\n")


def _exec(*cmd: str) -> int:
    return subprocess.run(list(cmd), cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    if command == "test":
        ensure_env("test")
        return _exec(str(PYTHON), "-m", "pytest", *rest)
    if command == "lint":
        ensure_env("test")
        code = _exec(str(PYTHON), "-m", "ruff", "check", ".")
        code |= _exec(str(PYTHON), "-m", "ruff", "format", "--check", ".")
        return code | _exec(str(PYTHON), "-m", "mypy")
    if command == "bench":
        ensure_env("test")
        code = 0
        for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            code |= _exec(str(PYTHON), str(script), *rest)
        return code
    if command == "run":
        ensure_env()
        return _exec(str(BIN / "whyscope"), *rest)
    sys.exit(f"unknown command {command!r}; use one of: run, test, lint, bench (see the top of dev.py)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
