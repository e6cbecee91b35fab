"""What `whyscope` (the app) and `whyscope chat` share: settings → backend, data → catalog, session → store, and
the model's mode (small-model mode for a short context: :func:`small_model_mode`)."""

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
from assistant.config import MAX_CONTEXT_WINDOW, Settings

__all__ = [
    "EXAMPLES",
    "GUIDED_HINT",
    "SMALL_CONTEXT",
    "Launch",
    "attached_under",
    "context_from_models",
    "detect_context_window",
    "example_data",
    "model_backend",
    "prepare",
    "small_model_mode",
]

GUIDED_HINT = "guided mode — no LLM · set OPENAI_API_KEY, or --base-url for a local server such as Ollama"


@dataclass
class Launch:
    backend: Backend
    catalog: Any
    store: SessionStore | None  # None: do not record (tests)
    messages: list[dict[str, Any]] = field(default_factory=list)
    brief: Brief | None = None
    #: Small-model mode: the conversation sends a short prompt and fewer tools (:func:`small_model_mode`).
    small_model: bool = False


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
        backend = model_backend(settings)
    small = small_model_mode(settings, say)
    return Launch(backend=backend, catalog=catalog, store=store, messages=messages, brief=brief, small_model=small)


def model_backend(settings: Settings) -> OpenAIBackend:
    """The backend for the model the settings name (not the guided mode: a key, or a local server, is set)."""
    assert settings.api_key is not None
    return OpenAIBackend(
        OpenAISettings(
            model=settings.model,
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.timeout,
            strict_tools=settings.strict_tools,
            parallel_tool_calls=settings.parallel_tool_calls,
        )
    )


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


#: Context windows up to this many tokens get small-model mode unless it is refused: the normal first request
#: (about 6,000 tokens of prompt and schemas) would leave too little of them for the conversation.
SMALL_CONTEXT = 16_384
#: How long start-up waits for the server's model list, in seconds (connect and each read).
DETECT_TIMEOUT = 2.0
#: The most of a model list read (a proxy listing hundreds of models sends a few hundred kilobytes).
DETECT_MAX_BYTES = 4_000_000
#: Where servers put a model's context length in their model list, what the server runs first (llama.cpp's
#: ``meta.n_ctx``, LM Studio's ``loaded_context_length``, vLLM's ``max_model_len``), then what the model could
#: (llama.cpp's ``meta.n_ctx_train``, LM Studio's ``max_context_length``, OpenRouter's ``context_length``).
_CONTEXT_FIELDS: tuple[tuple[str, ...], ...] = (
    ("meta", "n_ctx"),
    ("loaded_context_length",),
    ("max_model_len",),
    ("meta", "n_ctx_train"),
    ("max_context_length",),
    ("context_length",),
)
_SMALL_NOTE = "[note] small-model mode (a short prompt and fewer tools per request): {why}."


def small_model_mode(settings: Settings, say: Callable[[str], None]) -> bool:
    """Whether the conversation runs in small-model mode, said through ``say`` when it does (and why).

    On when asked for (``--small-model``, ``WHYSCOPE_SMALL_MODEL=1``, ``small_model = true``); off when refused, and
    in the guided mode (no model); otherwise on when the context window — configured, or else reported by the
    server (:func:`detect_context_window`, at most a couple of seconds) — is at most :data:`SMALL_CONTEXT` tokens.
    A server that reports nothing leaves normal mode, silently."""
    if settings.guided or settings.small_model is False:
        return False
    if settings.small_model:
        say(_SMALL_NOTE.format(why=f"asked for by {settings.small_model_from or 'the settings'}"))
        return True
    window: int | None = settings.context_window
    source = "the configured context window is {:,} tokens"
    if window is None:
        window = detect_context_window(settings.base_url, settings.api_key, settings.model)
        source = "the server reports a context of {:,} tokens"
    if window is None or window > SMALL_CONTEXT:
        return False
    why = source.format(window) + " (--no-small-model, or small_model = false in config.toml, turns it off)"
    say(_SMALL_NOTE.format(why=why))
    return True


def detect_context_window(base_url: str, api_key: str | None, model: str | None = None) -> int | None:
    """The context window the server at ``base_url`` reports for ``model`` (``GET {base_url}/models``), or None.

    Best effort, never in the way: one request through an explicit ``httpx.Client`` (as the backend's, so respx
    intercepts it in tests) with a :data:`DETECT_TIMEOUT` limit; any failure — no answer, an error status, a body
    that is not JSON or names no length — means "unknown". Nothing is retried and nothing is said."""
    import httpx

    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(DETECT_TIMEOUT)) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code != 200:
                return None
            body = bytearray()
            for piece in response.iter_bytes():
                body += piece
                if len(body) > DETECT_MAX_BYTES:
                    return None
        from tools.jsontext import loads

        payload = loads(bytes(body))
    # The probe only chooses a mode: whatever fails in it (the network, the server's JSON, a proxy's page, a test's
    # mock that refuses the request), start-up goes on in normal mode, as for a server that reports nothing.
    except Exception:
        return None
    return context_from_models(payload, model)


def context_from_models(payload: Any, model: str | None = None) -> int | None:
    """The context length in a ``/models`` answer: the entry whose ``id`` is ``model``, else the only entry (a
    llama.cpp server lists the one model it runs, under its file name); None when it is not there or makes no sense
    (not a positive whole number, or larger than any model's)."""
    if not isinstance(payload, dict):
        return None
    listed = payload.get("data")
    entries = [entry for entry in listed if isinstance(entry, dict)] if isinstance(listed, list) else []
    chosen = [entry for entry in entries if model is not None and entry.get("id") == model]
    if not chosen and len(entries) == 1:
        chosen = entries
    if len(chosen) != 1:
        return None
    for path in _CONTEXT_FIELDS:
        value: Any = chosen[0]
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CONTEXT_WINDOW:
            return value
    return None
