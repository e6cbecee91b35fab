"""What `whyscope` (the app) and `whyscope chat` share: settings → backend, data → catalog, session → store."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from assistant.agent.backends import Backend, OpenAIBackend, OpenAISettings
from assistant.agent.brief import Brief
from assistant.agent.guided import GuidedBackend
from assistant.agent.session import SESSION_VERSION, SessionStore, latest_session, load_session
from assistant.config import Settings

__all__ = ["EXAMPLES", "GUIDED_HINT", "Launch", "attached_under", "example_data", "prepare"]

GUIDED_HINT = "guided mode — no LLM · set OPENAI_API_KEY, or --base-url for a local server such as Ollama"


@dataclass
class Launch:
    backend: Backend
    catalog: Any
    store: SessionStore | None  # None: do not record (tests)
    messages: list[dict[str, Any]] = field(default_factory=list)
    brief: Brief | None = None


#: The bundled example datasets, by the name they get in the catalog: one per design whyscope runs.
EXAMPLES: dict[str, str] = {
    "checkout": "checkout.csv",  # a randomized experiment (ab_test)
    "reply_suggestions": "running_experiment.csv",  # an experiment still running, at look 2 of 5 (ab_test)
    "staggered_rollout": "staggered_rollout.csv",  # a region-by-region rollout (diff_in_diff)
    "market_launch": "market_launch.csv",  # a launch in one of 30 markets (synthetic_control)
    "agent_mode_opt_in": "agent_mode_opt_in.csv",  # an opt-in feature (propensity)
    "agent_mode_invite": "agent_mode_invite.csv",  # a randomised invite, use optional (instrumental_variables)
    "paywall_cutoff": "paywall_cutoff.csv",  # a paywall after a number of free queries (rdd)
    "checkout_sessions": "checkout_sessions.csv",  # four weeks of session history, no experiment (aa_test)
    "onboarding_tour": "onboarding_uplift.csv",  # an A/B test whose effect differs by tenure and plan (heterogeneity)
}


def example_data(file_name: str = "checkout.csv") -> Path | None:
    """A bundled example dataset (a wheel ships them in assistant/example_data; a checkout has examples/data)."""
    packaged = resources.files("assistant").joinpath("example_data", file_name)
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[1] / "examples" / "data" / file_name
    return checkout if checkout.is_file() else None


def prepare(
    settings: Settings,
    data: Sequence[str],
    resume: bool,
    say: Callable[[str], None],
    *,
    with_example: bool = False,
    encoding: str | None = None,
) -> Launch:
    """Open or resume the session, build the backend, and attach data (reporting problems through ``say``).

    Raises :class:`~assistant.agent.session.SessionInUse` when ``resume`` asks for a session another whyscope has
    open: checked first, before any data loads, so the refusal comes at once. ``encoding`` is the ``--data``
    files' text encoding (None: UTF-8, or what a byte-order mark says)."""
    from tools.data import Catalog, parse_data_argument, with_encoding_option
    from tools.errors import ToolError

    for warning in settings.warnings:
        say(f"[note] {warning}")
    store, messages, brief = _open_session(settings, resume, say)

    catalog = Catalog()
    items = list(data)
    if not items and with_example and settings.guided:
        items = [f"{name}={path}" for name, file in EXAMPLES.items() if (path := example_data(file)) is not None]
    for item in items:
        name, file_path = parse_data_argument(item)
        if (taken := attached_under(catalog, file_path, name)) is not None:  # never replace one silently
            say(
                f"[error] {file_path} was not attached: a dataset named '{taken.name}' is already attached "
                f"({taken.path.name}, {taken.n_rows:,} rows). Give it its own name: --data OTHER_NAME={file_path}"
            )
            continue
        try:
            dataset = catalog.add(file_path, name, encoding=encoding)
        except ToolError as error:
            error = with_encoding_option(error, "--encoding {}")
            say(f"[error] {error.message} {error.hint}")
            continue
        say(f"[data] {dataset.name}: {dataset.n_rows:,} rows, {columns_line(list(dataset.columns))}")

    backend: Backend
    if settings.guided:
        backend = GuidedBackend(brief=brief or Brief(), history=messages, catalog=catalog)
    else:
        assert settings.api_key is not None
        backend = OpenAIBackend(
            OpenAISettings(
                model=settings.model,
                api_key=settings.api_key,
                base_url=settings.base_url,
                timeout=settings.timeout,
                strict_tools=settings.strict_tools,
                parallel_tool_calls=settings.parallel_tool_calls,
            )
        )
    return Launch(backend=backend, catalog=catalog, store=store, messages=messages, brief=brief)


def attached_under(catalog: Any, path: str, name: str | None) -> Any:
    """The dataset that attaching ``path`` as ``name`` would replace (the name given, or the one the file's own
    name gives, as the catalog derives it), or None when that name is free."""
    if name is None:
        from tools.data.catalog import default_name, table_name
        from tools.engine import is_engine_source

        if is_engine_source(path):  # a table in an engine: named as the catalog names it
            name = table_name(path)
            return catalog.get(name, check_disk=False) if name in catalog else None
        target = Path(path).expanduser()
        with contextlib.suppress(OSError, RuntimeError):  # the catalog names a file by its real name
            target = target.resolve()
        name = default_name(target)
    return catalog.get(name, check_disk=False) if name in catalog else None


def _open_session(
    settings: Settings, resume: bool, say: Callable[[str], None]
) -> tuple[SessionStore, list[dict[str, Any]], Brief | None]:
    """The session to write (the last one when resuming, else a new one), with the messages and brief it holds.

    The last session is locked before it is read, so no other whyscope appends between the read and ours. A session
    written by a newer whyscope is left untouched (this version would append records that one does not expect) and
    a new session starts."""
    model = "guided" if settings.guided else settings.model
    path = latest_session() if resume else None
    if resume and path is None:
        say("[note] No earlier session to resume; starting a new one.")
    if path is None:
        return SessionStore(model=model), [], None
    store = SessionStore(path)  # raises SessionInUse: another whyscope has it open
    try:
        loaded = load_session(path)
    except OSError as exc:
        store.close()
        say(f"[error] Cannot read {path.name}: {exc.strerror or exc}. Starting a new session.")
        return SessionStore(model=model), [], None
    if loaded.version > SESSION_VERSION:
        store.close()
        say(
            f"[error] {path.name} was written by a newer whyscope (session version {loaded.version}); it is left "
            "as it is. Starting a new session; update whyscope to continue that one."
        )
        return SessionStore(model=model), [], None
    for warning in loaded.warnings:
        say(f"[note] {warning}")
    say(f"[session] resumed {path.name} ({len(loaded.messages)} messages)")
    return store, loaded.messages, loaded.brief


#: Columns named in the attach line; a wider file says how many there are (/data and the panel list them all).
SHOWN_COLUMNS = 12


def columns_line(columns: list[str]) -> str:
    """``columns a, b, c`` — or the first :data:`SHOWN_COLUMNS` and how many in all, for a wide file."""
    if len(columns) <= SHOWN_COLUMNS:
        return "columns " + ", ".join(columns)
    return f"{len(columns)} columns: " + ", ".join(columns[:SHOWN_COLUMNS]) + ", … (/data lists them all)"
