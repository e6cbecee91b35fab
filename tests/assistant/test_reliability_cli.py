"""Issue 16 on the command line and the app's command parsing (items 8, 11, 20, 22; RELIABILITY F1, F2, F3, X6):
bounded reads of every file a user names, Ctrl-C, figures and documents written by one rule, the real option in
each hint."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant.cli import main
from assistant.tui.slash import LoadCommand, load_arguments, tool_request
from assistant.writing import write_new
from tools.errors import ToolError

POWER = {"metric": "mean", "baseline": 10.0, "std_dev": 2.0, "mde": 1.0}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_code(out: str) -> str:
    return str(json.loads(out)["error"]["code"])


def within(seconds: float, call: Any) -> Any:
    """``call()`` on a thread; fail (rather than hang) when it does not return in time."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"still running after {seconds} s (blocked?)"
    return box[0]


# --- item 20: every file a user names is read within bounds ---------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ("tool", "run", "power", "--json", "@/dev/zero"),
        ("tool", "run", "power", "--plan", "/dev/zero"),
        ("prereg", "/dev/zero"),
        ("tool", "run", "ab_test", "--json", "{}", "--data", "z=/dev/zero"),
    ],
)
def test_devices_are_refused_without_reading_them(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    code, out, _ = within(10, lambda: run_cli(capsys, *argv))
    assert code == 2 and error_code(out) == "not_a_file"
    assert "character device" in json.loads(out)["error"]["message"]


def test_a_fifo_request_is_refused_at_once_not_waited_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fifo = tmp_path / "request.json"
    os.mkfifo(fifo)
    code, out, _ = within(10, lambda: run_cli(capsys, "tool", "run", "power", "--json", f"@{fifo}"))
    assert code == 2 and error_code(out) == "not_a_file" and "FIFO" in out


def test_oversized_and_deeply_nested_files_are_tool_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(6_000_000)
    code, out, _ = run_cli(capsys, "prereg", str(big))
    assert code == 2 and error_code(out) == "file_too_large"
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5_000 + "]" * 5_000, encoding="utf-8")
    for argv in (("prereg", str(deep)), ("tool", "run", "power", "--plan", str(deep))):
        code, out, _ = run_cli(capsys, *argv)
        assert code == 2 and error_code(out) == "invalid_json" and "nested" in out


# --- item 8: a loop in --data, Ctrl-C --------------------------------------------------------------------------
def test_a_symlink_loop_in_data_is_a_one_line_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    code, out, err = run_cli(capsys, "tool", "run", "ab_test", "--json", "{}", "--data", f"exp={loop}")
    error = json.loads(out)["error"]
    assert code == 2 and error["code"] == "not_readable" and "loop.csv" in error["message"]
    assert "symbolic link" in error["message"] and "Traceback" not in err


def test_ctrl_c_during_a_tool_run_ends_with_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.agent.runner import ToolRunner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ToolRunner, "run", interrupted)
    code, out, err = run_cli(capsys, "tool", "run", "refute", "--json", "{}")
    assert code == 130 and out == "" and err.strip() == "Cancelled."


# --- item 11 / F1 / F2: files written for the user -----------------------------------------------------------
def test_plot_refuses_existing_files_links_and_missing_folders_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    (tmp_path / "link.png").symlink_to(victim)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "made" / "x.png")
    (tmp_path / "old.png").write_bytes(b"old")
    for name, reason in [
        ("link.png", "symbolic link"),
        ("dangling.png", "symbolic link"),
        ("old.png", "exists"),
        ("made/new.png", "does not exist"),
    ]:
        code, out, _ = run_cli(
            capsys, "tool", "run", "power", "--json", json.dumps(POWER), "--plot", str(tmp_path / name)
        )
        assert code == 2 and reason in json.loads(out)["error"]["message"], name
    assert victim.read_text(encoding="utf-8") == "precious" and (tmp_path / "old.png").read_bytes() == b"old"
    assert not (tmp_path / "made").exists()
    code, out, err = run_cli(
        capsys, "tool", "run", "power", "--json", json.dumps(POWER), "--plot", str(tmp_path / "new.png")
    )
    assert code == 0 and (tmp_path / "new.png").read_bytes()[:4] == b"\x89PNG" and "[plot] saved" in err


def test_export_uses_the_same_rule(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import assistant.agent.session as session

    loaded = SimpleNamespace(messages=[], brief=None, runs=[], warnings=[])
    monkeypatch.setattr(session, "latest_session", lambda: tmp_path / "s.jsonl")
    monkeypatch.setattr(session, "load_session", lambda path: loaded)
    monkeypatch.setattr(session, "export_markdown", lambda *args: "# transcript\n")
    victim = tmp_path / "victim.md"
    victim.write_text("keep", encoding="utf-8")
    (tmp_path / "link.md").symlink_to(victim)
    (tmp_path / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    for name in ("link.md", "dangling.md", "victim.md"):
        code, _, err = run_cli(capsys, "export", "-o", str(tmp_path / name))
        assert code == 2 and "not overwritten" in err, name
    assert victim.read_text(encoding="utf-8") == "keep" and not (tmp_path / "nowhere.md").exists()
    code, _, err = run_cli(capsys, "export", "-o", str(tmp_path / "missing" / "t.md"))
    assert code == 2 and "does not exist" in err
    code, _, _ = run_cli(capsys, "export", "-o", str(tmp_path / "t.md"))
    assert code == 0 and (tmp_path / "t.md").read_text(encoding="utf-8") == "# transcript\n"


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    def disk_full(handle: Any) -> None:
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(ToolError) as info:
        write_new(tmp_path / "plan.md", disk_full)
    assert info.value.code == "unwritable" and "No space left on device" in info.value.message
    assert list(tmp_path.iterdir()) == []  # no partial document, no temporary file


def test_prereg_output_formats_have_no_spreadsheet_to_inject_formulas_into() -> None:
    from assistant.prereg.render import FORMATS

    assert set(FORMATS) == {"md", "html", "json"}  # X6 applies only if a CSV/XLSX export is added


# --- item 22: names and the encoding option ---------------------------------------------------------------------
def test_an_invalid_dataset_name_is_reported_as_such(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ok = tmp_path / "ok.csv"
    ok.write_text("arm,y\nA,1\nB,2\n", encoding="utf-8")
    for bad in ("../evil", "a b"):
        code, out, _ = run_cli(capsys, "tool", "run", "ab_test", "--json", "{}", "--data", f"{bad}={ok}")
        error = json.loads(out)["error"]
        assert code == 2 and error["code"] == "invalid_dataset_name" and "does not exist" not in error["message"]


def test_the_encoding_hint_names_the_commands_own_option_which_works(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "excel.csv"
    data.write_bytes("arm,y\ncontr\u00f4le,1\ntreatment,2\ncontr\u00f4le,3\ntreatment,4\n".encode("cp1252"))
    request = json.dumps({"dataset": "x", "arm_column": "arm", "control": "contr\u00f4le", "metrics": [{"name": "y"}]})
    code, out, _ = run_cli(capsys, "tool", "run", "ab_test", "--json", request, "--data", f"x={data}")
    error = json.loads(out)["error"]
    assert code == 2 and error["code"] == "bad_encoding" and "--encoding cp1252" in error["hint"]
    code, out, _ = run_cli(
        capsys, "tool", "run", "ab_test", "--json", request, "--data", f"x={data}", "--encoding", "cp1252"
    )
    assert code == 0 and json.loads(out)["srm"]["observed"][0]["arm"] == "contr\u00f4le"


def test_load_reads_a_path_a_name_and_an_encoding() -> None:
    assert load_arguments("data/a.csv") == LoadCommand("data/a.csv")
    assert load_arguments("'my data/a b.csv' sales encoding=cp1252") == LoadCommand(
        "my data/a b.csv", "sales", "cp1252"
    )
    assert load_arguments("encoding=latin-1 a.csv") == LoadCommand("a.csv", None, "latin-1")
    assert str(load_arguments("")).startswith("Usage: /load PATH [NAME] [encoding=CODEC]")
    assert str(load_arguments("a.csv b c")).startswith("Usage:")
    assert "needs a codec" in str(load_arguments("a.csv encoding="))
    assert "Could not read the path" in str(load_arguments("'unclosed"))


def test_run_refuses_deep_or_huge_json_with_a_message() -> None:
    assert "nested" in str(tool_request("/run", "power " + "[" * 5_000 + "]" * 5_000))
    assert "characters" in str(tool_request("/run", "power " + json.dumps({"x": "y" * 200_000})))


def test_chat_takes_the_encoding_its_hint_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from assistant.chat import run_chat
    from assistant.config import load_settings

    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path / "home"))
    data = tmp_path / "excel.csv"
    data.write_bytes("arm,city\ncontrol,Z\u00fcrich\ntreatment,Malm\u00f6\n".encode("cp1252"))
    out = io.StringIO()
    assert run_chat(load_settings(offline=True), [f"x={data}"], False, io.StringIO(""), out) == 0
    assert "--encoding cp1252" in out.getvalue() and "[data] x:" not in out.getvalue()
    out = io.StringIO()
    assert run_chat(load_settings(offline=True), [f"x={data}"], False, io.StringIO(""), out, encoding="cp1252") == 0
    assert "[data] x: 2 rows, columns arm, city" in out.getvalue()
    from assistant.cli import build_parser

    assert build_parser().parse_args(["chat", "--encoding", "cp1252"]).encoding == "cp1252"
    assert build_parser().parse_args(["--encoding", "latin-1"]).encoding == "latin-1"


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path: Path) -> None:
    """`whyscope … | head`: the pipe closes before whyscope writes; no BrokenPipeError traceback, exit 141."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    env = {**os.environ, "WHYSCOPE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "tool", "list"], stdout=write_end, stderr=subprocess.PIPE, env=env
    )
    os.close(write_end)
    assert done.returncode == 141 and b"Traceback" not in done.stderr, done.stderr.decode()
