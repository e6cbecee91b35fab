"""The ``whyscope`` command line.

Start-up stays light: this module imports only the standard library at the top, so ``whyscope --help``
never loads pandas, statsmodels, scikit-learn or openai; each command imports what it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import __version__

if TYPE_CHECKING:
    from tools.data import Catalog
    from tools.errors import ToolError

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_TOOL_ERROR = 2
#: Ctrl-C: the shell's convention for a process ended by SIGINT (128 + 2).
EXIT_CANCELLED = 130
#: The reader of stdout went away (128 + SIGPIPE), as a shell pipeline reports it.
EXIT_BROKEN_PIPE = 141
#: ``whyscope validate``: a row did not read as expected (a figure off its nominal value, or a mis-specified
#: analysis the table failed to flag).
EXIT_CHECK = 1
#: The estimators ``validate --only`` takes (the keys of ``tools.validate.GROUPS``, listed here so that building the
#: parser imports no statistics; a test keeps them equal).
VALIDATE_GROUPS = (
    "power",
    "ab_test",
    "sequential",
    "diff_in_diff",
    "synthetic_control",
    "propensity",
    "rdd",
    "instrumental_variables",
    "heterogeneity",
)
#: How ``tool run`` takes a file's encoding, for the hint of a file that is not valid UTF-8.
ENCODING_OPTION = "--encoding {}"
ENCODING_HELP = (
    "the text encoding of the --data files when it is not UTF-8 (e.g. cp1252 from Excel on Windows, latin-1)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whyscope",
        description="Scope product experiments and causal questions, then answer them with tested statistics.",
        epilog="Without a command, whyscope opens the app (the guided mode with example data when no model is set).",
    )
    parser.add_argument("--version", action="version", version=f"whyscope {__version__}")
    _conversation_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("demo", help="print a worked power calculation (no API key, no data needed)")

    chat = commands.add_parser(
        "chat",
        help="converse on plain stdin/stdout (guided mode without an API key)",
        description="One message per input line; exits at the end of input. Sessions are saved as they go; "
        "--resume first recaps the last one (the brief, the results, the last exchanges).",
        epilog="Exit status: 0 when the input ended; 2 when the session to resume is open in another whyscope; "
        "3 when no message got an answer because the model could not be reached (every turn failed); "
        "130 on Ctrl-C.",
    )
    _conversation_options(chat)

    export = commands.add_parser("export", help="write the last session's transcript as Markdown")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (refuses to overwrite) instead of stdout")

    tool = commands.add_parser("tool", help="list, inspect and run the statistics tools directly")
    tool_commands = tool.add_subparsers(dest="tool_command", metavar="TOOL_COMMAND", required=True)
    tool_commands.add_parser("list", help="the registered tools, one per line")
    schema = tool_commands.add_parser("schema", help="print a tool's strict JSON schema")
    schema.add_argument("name", help="tool name, e.g. power")
    run = tool_commands.add_parser(
        "run",
        help="run a tool and print its result as JSON (exit 2 with an error object on bad input)",
        description="Run a tool. The request is a JSON object given inline or as @file.json.",
    )
    run.add_argument("name", help="tool name, e.g. power")
    run.add_argument(
        "--json",
        dest="request",
        default=None,
        help="the request: '{...}' or @request.json (with --plan and no --json: the plan's own request)",
    )
    run.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="attach a CSV or Parquet file under NAME (repeatable); the request refers to it by name",
    )
    run.add_argument("--encoding", metavar="CODEC", help=ENCODING_HELP)
    run.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also save the result's figure as PNG (power curve, event study, synthetic control, overlap, RD plot)",
    )
    run.add_argument(
        "--assignments",
        metavar="FILE.csv",
        help="assign only: also save the full assignment (unit, arm, stratum, cluster) as a new CSV file",
    )
    run.add_argument(
        "--plan",
        metavar="PLAN.json",
        help="a frozen pre-registration (whyscope prereg … --format json): the result lists every deviation from it",
    )

    prereg = commands.add_parser(
        "prereg",
        help="write a pre-registration document from a brief file",
        description="Render a brief file (brief, study plan, power request) as a frozen pre-registration: Markdown, "
        "standalone HTML, or JSON (the machine-readable plan for `tool run --plan`). Missing items are listed with "
        "the question that would fill them.",
    )
    prereg.add_argument("brief", metavar="BRIEF.json", help="the brief file (see examples/briefs/)")
    prereg.add_argument("-o", "--output", metavar="FILE", help="write to FILE (never overwrites) instead of stdout")
    prereg.add_argument(
        "--format", choices=("md", "html", "json"), help="output format (default: from FILE's extension, else md)"
    )
    prereg.add_argument("--draft", action="store_true", help="do not freeze (no content hash or timestamp)")

    validate = commands.add_parser(
        "validate",
        help="check on this machine how far each estimator's numbers can be trusted (seeded simulations)",
        description="Run seeded simulations of every estimator, through the same code path as `tool run`, and print "
        "one table: per estimator and design the interval coverage and the A/A false-positive rate with their Monte "
        "Carlo standard errors, and the reference-parity figures. Progress goes to stderr.",
        epilog=f"Estimators (--only): {', '.join(VALIDATE_GROUPS)}. Exit status: 0 when every row reads as expected "
        "('ok', and 'check' for the deliberately mis-specified analyses); 1 when one does not; 2 on a bad option "
        "or an unwritable --json file; 130 on Ctrl-C.",
    )
    validate.add_argument("--quick", action="store_true", help="about a minute: fewer replications, smaller n")
    validate.add_argument(
        "--only", action="append", metavar="NAME", help="run only this estimator's designs (repeatable)"
    )
    validate.add_argument(
        "--json", dest="json_path", metavar="FILE", help="also write the table as JSON to FILE (never overwrites)"
    )
    validate.add_argument(
        "--seed", type=int, default=None, help="base seed (default: a fixed seed, so two runs print the same table)"
    )

    evaluate = commands.add_parser(
        "eval",
        help="score a model (or the guided mode) on the scenario suite: scoping, design, tool calls, claims",
        description="Run every scenario (a persona, attached data, scripted replies and what must happen) through "
        "the conversation engine against the model at --base-url / --model (or the usual OPENAI_* settings), and "
        "print one row per scenario: scoping completeness, the design, the expected and forbidden tool calls, "
        "schema errors, retries, loops, numbers and claims no tool backs, turns, tokens and seconds. --offline "
        "scores the guided mode, the baseline. Progress goes to stderr.",
        epilog="Exit status: 0 when every scenario run passed; 1 when one failed; 2 on a bad option, an unreadable "
        "scenario, no model to evaluate, or an unwritable --json file; 130 on Ctrl-C.",
    )
    evaluate.add_argument("--offline", action="store_true", help="score the guided mode (no model, no network)")
    evaluate.add_argument("--model", help="model name (default: OPENAI_MODEL or the config file)")
    evaluate.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    _small_model_options(evaluate)
    evaluate.add_argument(
        "--scenario", action="append", metavar="NAME", help="run only this scenario (repeatable; --list names them)"
    )
    evaluate.add_argument("--folder", metavar="DIR", help="read scenario files from DIR instead of the shipped ones")
    evaluate.add_argument("--list", action="store_true", help="list the scenarios and what each covers, then exit")
    evaluate.add_argument(
        "--json",
        dest="json_path",
        metavar="FILE",
        help="also write the scores and transcripts as JSON (never overwrites)",
    )
    return parser


def _conversation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true", help="use the guided mode even if a model is configured")
    parser.add_argument("--model", help="model name (default: OPENAI_MODEL or the config file)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    parser.add_argument(
        "--data", action="append", default=[], metavar="[NAME=]PATH", help="attach a CSV or Parquet file"
    )
    parser.add_argument("--encoding", metavar="CODEC", help=ENCODING_HELP)
    parser.add_argument("--resume", action="store_true", help="continue the last session")
    _small_model_options(parser)


def _small_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--small-model",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a short prompt and fewer tools per request, for a model with a short context (default: on when the "
        "context window is 16,384 tokens or less; WHYSCOPE_SMALL_MODEL=1, or small_model = true in config.toml)",
    )
    parser.add_argument(
        "--context-window",
        type=int,
        metavar="TOKENS",
        help="the model's context window in tokens (default: what the server reports, if it does)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; Ctrl-C ends any of them with one line, "Cancelled.", and exit code 130, and a reader that
    stops reading (``whyscope chat … | head``) ends it quietly with 141, as a shell pipeline expects (no traceback)."""
    args = build_parser().parse_args(argv)
    try:
        return _command(args)
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write("\nCancelled.\n")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # nothing more can be written; point stdout at /dev/null so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _command(args: argparse.Namespace) -> int:
    if args.command is None:
        return _app(args)
    if args.command == "demo":
        from assistant.demo import run_demo

        return run_demo(sys.stdout)
    if args.command == "chat":
        from assistant.chat import run_chat

        settings = _settings(args)
        return run_chat(settings, args.data, args.resume, sys.stdin, sys.stdout, encoding=args.encoding)
    if args.command == "export":
        return _export(args.output)
    if args.command == "prereg":
        return _prereg(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "eval":
        return _eval(args)
    if args.command == "tool":
        handler = {"list": _tool_list, "schema": _tool_schema, "run": _tool_run}[args.tool_command]
        return handler(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover - argparse guards it


def _settings(args: argparse.Namespace) -> Any:
    """The settings from the command line's flags, then the environment and the config file."""
    from assistant.config import load_settings

    return load_settings(
        model=args.model,
        base_url=args.base_url,
        offline=args.offline,
        small_model=args.small_model,
        context_window=args.context_window,
    )


def _app(args: argparse.Namespace) -> int:
    from assistant.tui.app import WhyscopeApp

    def launcher(say: Any) -> Any:
        # runs in a worker after the first frame: settings, data and the backend load while the window is up
        from assistant.launch import prepare

        settings = _settings(args)
        return prepare(settings, args.data, args.resume, say, with_example=True, encoding=args.encoding)

    WhyscopeApp(launcher=launcher).run()
    return EXIT_OK


def _export(output: str | None) -> int:
    from assistant.agent.session import export_markdown, latest_session, load_session
    from assistant.writing import write_new
    from tools.errors import ToolError

    path = latest_session()
    if path is None:
        sys.stderr.write("No session to export yet: start one with `whyscope chat`.\n")
        return EXIT_TOOL_ERROR
    try:
        loaded = load_session(path)
    except OSError as exc:
        sys.stderr.write(f"Cannot read the session {path}: {exc.strerror or exc}.\n")
        return EXIT_TOOL_ERROR
    for warning in loaded.warnings:  # damaged lines skipped, pairs repaired: the transcript says less than the file
        sys.stderr.write(f"[note] {warning}\n")
    text = export_markdown(loaded.messages, loaded.brief, loaded.runs)
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:  # the one rule for files written for the user: never over anything, atomically
        target = write_new(output, lambda handle: handle.write(text.encode("utf-8")))
    except ToolError as error:
        sys.stderr.write(f"{error.message} {error.hint}\n")
        return EXIT_TOOL_ERROR
    sys.stdout.write(f"Wrote {target}\n")
    return EXIT_OK


def _prereg(args: argparse.Namespace) -> int:
    from assistant.prereg.files import build_document, format_for, load_source, write_new
    from assistant.prereg.render import render
    from tools.errors import ToolError

    fmt = args.format or (format_for(args.output) if args.output else "md")
    try:
        document = build_document(load_source(args.brief), frozen=not args.draft)
        text = render(document, fmt)
        if args.output is None:
            sys.stdout.write(text)
            return EXIT_OK
        target = write_new(args.output, text)
    except ToolError as error:
        return _fail(error)
    _write(f"Wrote {target} ({document.prereg.completeness.sentence()}).")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    """Run the calibration simulations, print the table on stdout (and write it as JSON with ``--json``); exit 1
    when a row does not read as expected."""
    import time

    from assistant.writing import check_new, write_new
    from tools.errors import ToolError
    from tools.validate import DEFAULT_SEED, format_report, run_validation

    started = time.monotonic()
    try:
        if args.json_path is not None:  # refused before minutes of simulation, not after
            check_new(args.json_path)
        report = run_validation(
            "quick" if args.quick else "default",
            only=args.only,
            seed=DEFAULT_SEED if args.seed is None else args.seed,
            progress=_progress_by_label(),
        )
        sys.stdout.write(format_report(report))
        if args.json_path is not None:
            text = report.model_dump_json(indent=2) + "\n"
            target = write_new(args.json_path, lambda handle: handle.write(text.encode("utf-8")))
            sys.stderr.write(f"[validate] wrote {target}\n")
    except ToolError as error:
        return _fail(error)
    sys.stderr.write(f"[validate] {time.monotonic() - started:.0f} s\n")
    expected = all((row.status == "check") == row.misspecified for row in report.rows)
    return EXIT_OK if expected else EXIT_CHECK


def _eval(args: argparse.Namespace) -> int:
    """Score the guided mode (``--offline``) or a model on the scenarios: the table on stdout, a line per scenario
    on stderr as it ends, JSON with ``--json``; exit 1 when a scenario failed."""
    from assistant.config import display_url
    from assistant.eval.report import table, to_json
    from assistant.eval.runner import ScenarioScore, run_suite
    from assistant.eval.scenario import ScenarioError, load_scenarios
    from assistant.writing import check_new, write_new
    from tools.errors import ToolError

    try:
        folder = Path(args.folder) if args.folder else None
        if folder is not None and not folder.is_dir():
            raise ScenarioError(f"{folder} is not a folder of scenario files.")
        scenarios = load_scenarios(args.scenario, folder)
    except ScenarioError as exc:
        sys.stderr.write(f"[error] {exc}\n")
        return EXIT_TOOL_ERROR
    if args.list:
        for scenario in scenarios:
            guided = "guided" if scenario.guided else "model only"
            sys.stdout.write(f"{scenario.name}  [{guided}; {', '.join(scenario.covers)}]  {scenario.title}\n")
        return EXIT_OK
    settings = _settings(args)
    if settings.guided and not args.offline:
        sys.stderr.write(
            f"[error] No model to evaluate: {display_url(settings.base_url)} needs an API key (OPENAI_API_KEY). "
            "Give --base-url for a local server (Ollama, llama.cpp, vLLM), or --offline to score the guided mode.\n"
        )
        return EXIT_TOOL_ERROR
    try:
        if args.json_path is not None:  # refused before the run, not after
            check_new(args.json_path)
    except ToolError as error:
        return _fail(error)
    make_backend, label = _eval_backend(settings)
    from assistant.launch import small_model_mode

    def note(line: str) -> None:
        sys.stderr.write(line + "\n")

    small = small_model_mode(settings, note)
    if small:
        label += " (small-model mode)"

    def progress(score: ScenarioScore) -> None:
        verdict = "n/a" if not score.ran else "pass" if score.passed else "FAIL"
        sys.stderr.write(f"[eval] {score.scenario}: {verdict} ({score.seconds:.1f} s)\n")

    scores = run_suite(scenarios, make_backend, label, guided=settings.guided, small_model=small, on_score=progress)
    sys.stdout.write(table(scores) + "\n")
    if args.json_path is not None:
        text = to_json(scores) + "\n"
        target = write_new(args.json_path, lambda handle: handle.write(text.encode("utf-8")))
        sys.stderr.write(f"[eval] wrote {target}\n")
    return EXIT_OK if all(s.passed for s in scores if s.ran) else EXIT_CHECK


def _eval_backend(settings: Any) -> tuple[Callable[[Any], Any], str]:
    """What builds each scenario's backend (a fresh one per scenario), and its label in the table."""
    from assistant.agent.guided import GuidedBackend
    from assistant.config import display_url
    from assistant.launch import model_backend

    if settings.guided:
        return (lambda catalog: GuidedBackend(catalog=catalog)), "guided"
    return (lambda catalog: model_backend(settings)), f"{settings.model} at {display_url(settings.base_url)}"


def _progress_by_label() -> Callable[[int, int, str], None]:
    """:func:`_progress_printer` started afresh for each label (each simulated design counts its own replications)."""
    current: dict[str, Any] = {"label": None, "report": None}

    def report(done: int, total: int, label: str) -> None:
        if label != current["label"]:
            current["label"], current["report"] = label, _progress_printer()
        current["report"](done, total, label)

    return report


def _tool_list(args: argparse.Namespace) -> int:
    from tools.registry import TOOLS

    width = max(len(spec.name) for spec in TOOLS)
    for spec in TOOLS:
        _write(f"{spec.name:<{width}}  {spec.summary}")
    return EXIT_OK


def _tool_schema(args: argparse.Namespace) -> int:
    from assistant.schemas import tool_schema
    from tools.errors import ToolError

    try:
        schema = tool_schema(args.name)
    except ToolError as error:
        return _fail(error)
    _write(json.dumps(schema, indent=2, ensure_ascii=False))
    return EXIT_OK


def _tool_run(args: argparse.Namespace) -> int:
    """Run one tool through the engine's run path (:func:`assistant.agent.runner.run_tool`), as the app and the
    conversation do: with ``--plan``, the same check against the frozen plan."""
    from assistant.agent.runner import ToolRunner
    from tools.errors import ToolError
    from tools.registry import get_tool

    try:
        get_tool(args.name)
        plan = _load_plan(args.plan) if args.plan else None
        request = _read_request(args.request) if args.request is not None else _planned_request(args.name, plan)
        if args.plot is not None:  # refused before a long run, not after it
            _check_plot_path(args.plot)
        if args.assignments is not None:
            _check_assignments_path(args.name, args.assignments)
        catalog = _attach(args.data, args.encoding) if args.data else None
    except ToolError as error:
        return _fail(error)
    printer = _progress_printer()

    def emit(event: Any) -> None:
        from assistant.agent.events import ToolProgress

        if isinstance(event, ToolProgress):
            printer(event.done, event.total, event.label)

    if plan is None:
        runner = ToolRunner(catalog=catalog)
    else:
        from assistant.prereg.tool import PreregState

        runner = ToolRunner(catalog=catalog, prereg=PreregState(frozen=plan))
    run = runner.run(args.name, request, emit)
    outcome = run.outcome
    if isinstance(outcome, ToolError):
        return _fail(outcome)
    if plan is None:
        _write(outcome.model_dump_json(indent=2))
    else:  # every run with --plan says how it compares (null for a tool the plan does not cover)
        payload = run.result or {}
        payload.setdefault("plan_check", None)
        _write(json.dumps(payload, indent=2, ensure_ascii=False))
    if args.plot is not None:
        _save_plot(outcome, args.plot)
    if args.assignments is not None and catalog is not None:
        _save_assignments(request, catalog, args.assignments)
    return EXIT_OK


def _check_assignments_path(tool: str, path: str) -> None:
    """Refuse ``--assignments`` for another tool than assign, or a path that cannot be a new CSV file."""
    from assistant.writing import check_new
    from tools.errors import ToolError

    if tool != "assign":
        raise ToolError(
            "invalid_option", f"--assignments is for the assign tool, not {tool}.", "Leave --assignments out."
        )
    if not path.lower().endswith(".csv"):
        raise ToolError("invalid_assignments_path", f"--assignments {path}: the file is CSV.", "End the name in .csv.")
    check_new(path)


def _save_assignments(request: Any, catalog: Any, path: str) -> None:
    """The full assignment beside the JSON (the result shows the first units only), never over an existing file."""
    from assistant.writing import write_new
    from tools.assign.models import AssignRequest
    from tools.assign.tool import assignments_csv
    from tools.errors import ToolError

    try:
        parsed = (
            AssignRequest.model_validate_json(request)
            if isinstance(request, str)
            else AssignRequest.model_validate(request)
        )
        text = assignments_csv(parsed, catalog.get(parsed.dataset).frame)
        saved = write_new(path, lambda handle: handle.write(text.encode("utf-8")))
    except ToolError as error:
        sys.stderr.write(f"[assignments] not saved: {error.message}\n")
    else:
        sys.stderr.write(f"[assignments] saved {saved}\n")


def _check_plot_path(path: str) -> None:
    """Refuse a ``--plot`` path that :func:`assistant.figures.save_figure` would refuse, before the tool runs."""
    from assistant.writing import check_new
    from tools.errors import ToolError

    if not path.lower().endswith(".png"):
        raise ToolError("invalid_plot_path", f"--plot {path}: figures are saved as PNG.", "End the name in .png.")
    check_new(path)


def _progress_printer() -> Callable[[int, int, str], None]:
    """Progress of long tools (refute) on stderr: one updating line on a terminal, a line per tenth otherwise."""
    interactive = sys.stderr.isatty()
    shown = {"tenth": -1}

    def report(done: int, total: int, label: str) -> None:
        if total <= 0:
            return
        if interactive:
            end = "\n" if done >= total else ""
            sys.stderr.write(f"\r[progress] {done}/{total} {label[:40]:<40}{end}")
            sys.stderr.flush()
        elif (tenth := done * 10 // total) > shown["tenth"]:
            shown["tenth"] = tenth
            sys.stderr.write(f"[progress] {done}/{total} {label}\n")

    return report


def _save_plot(result: Any, path: str) -> None:
    """The figure beside the JSON; a result without one, or an unwritable path, is a note on stderr."""
    from assistant.figures import FigureError, save_figure

    try:
        saved = save_figure(result, path)
    except FigureError as error:
        sys.stderr.write(f"[plot] not saved: {error}\n")
    else:
        sys.stderr.write(f"[plot] saved {saved}\n")


def _load_plan(path: str) -> Any:
    from assistant.prereg.files import load_plan

    return load_plan(path)


def _planned_request(name: str, plan: Any) -> str:
    """The request a frozen plan specifies for tool ``name`` (or an empty request without a plan): the fields it
    states, so the tool's defaults apply to what it left null."""
    if plan is None:
        return "{}"
    from assistant.prereg.plans import planned_request

    study = plan.prereg.plan  # the tool's own planned analysis (a secondary one too), else the primary for the error
    return json.dumps(planned_request(name, study.planned(name) or study.analysis))


def _read_request(text: str) -> str:
    """The request: the text itself, or after ``@`` a file read by the one bounded reader (a regular file of at
    most a few megabytes: ``@/dev/zero`` and ``@fifo`` are refused before reading, never read or waited on)."""
    from tools.errors import ToolError
    from tools.readfile import read_text

    if not text.startswith("@"):
        return text
    path = Path(text[1:]).expanduser()
    try:
        return read_text(path, f"The request file '{path}'", hint="Save the request as a UTF-8 JSON file.")
    except ToolError as error:
        if error.code != "file_not_found":
            raise
        raise ToolError(
            error.code,
            error.message,
            "Give an existing JSON file after '@', or the JSON itself: --json '{\"metric\": ...}'.",
        ) from None


def _attach(items: Sequence[str], encoding: str | None = None) -> Catalog:
    from tools.data import Catalog, parse_data_argument, with_encoding_option
    from tools.errors import ToolError

    catalog = Catalog()
    for item in items:
        name, path = parse_data_argument(item)
        try:
            catalog.add(path, name, encoding=encoding)
        except ToolError as error:
            raise with_encoding_option(error, ENCODING_OPTION) from None
    return catalog


def _fail(error: ToolError) -> int:
    _write(json.dumps(error.to_dict(), indent=2, ensure_ascii=False))
    return EXIT_TOOL_ERROR


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
