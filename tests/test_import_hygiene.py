"""Dependency direction and start-up weight are invariants, checked on the source and at run time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "statsmodels", "sklearn", "openai", "matplotlib", "duckdb")


def imported_top_level_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in ROOT.joinpath(package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_tools_never_imports_assistant_textual_or_openai_in_source() -> None:
    offenders = {
        path: names & {"assistant", "textual", "openai"}
        for path, names in imported_top_level_modules("tools").items()
        if names & {"assistant", "textual", "openai"}
    }
    assert not offenders


def test_agent_never_imports_textual_in_source() -> None:
    agent = ROOT / "assistant" / "agent"
    if not agent.exists():
        return
    offenders = {p: n for p, n in imported_top_level_modules("assistant/agent").items() if "textual" in n}
    assert not offenders


def _modules_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))\n"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )
    return list(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_importing_every_tool_loads_no_assistant_textual_or_openai() -> None:
    loaded = _modules_after("import tools.registry, tools.power, tools.data, tools.results, tools.errors")
    assert not {"assistant", "textual", "openai"} & set(loaded)


def test_help_imports_none_of_the_heavy_libraries() -> None:
    code = (
        "import contextlib, io\n"
        "from assistant.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass"
    )
    loaded = set(_modules_after(code))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "numpy" not in loaded


def test_running_power_from_the_cli_loads_no_pandas_or_openai() -> None:
    code = (
        "import contextlib, io\n"
        "from assistant.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['tool', 'run', 'power', '--json', '{\"metric\": \"proportion\", \"baseline\": 0.1, \"mde\": 0.01}'])"
    )
    loaded = set(_modules_after(code))
    assert not loaded & {"pandas", "statsmodels", "sklearn", "openai", "textual"}


def test_the_app_module_loads_only_textual_before_the_first_frame() -> None:
    loaded = set(_modules_after("import assistant.tui.app"))
    assert not loaded & {"pandas", "numpy", "scipy", "statsmodels", "openai", "pydantic", "tools"}, loaded & {
        "pandas",
        "numpy",
        "scipy",
        "statsmodels",
        "openai",
        "pydantic",
        "tools",
    }


def test_the_agent_never_imports_textual_at_run_time() -> None:
    loaded = set(_modules_after("import assistant.agent.conversation, assistant.agent.guided, assistant.chat"))
    assert "textual" not in loaded
