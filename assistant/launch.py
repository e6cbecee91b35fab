"""What `whyscope` (the app) and `whyscope chat` share: settings → backend, data → catalog, session → store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from assistant.agent.backends import Backend, OpenAIBackend, OpenAISettings
from assistant.agent.brief import Brief
from assistant.agent.guided import GuidedBackend
from assistant.agent.session import SessionStore, latest_session, load_session
from assistant.config import Settings

__all__ = ["EXAMPLES", "GUIDED_HINT", "Launch", "example_data", "prepare"]

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
    "staggered_rollout": "staggered_rollout.csv",  # a region-by-region rollout (diff_in_diff)
    "agent_mode_opt_in": "agent_mode_opt_in.csv",  # an opt-in feature (propensity)
    "paywall_cutoff": "paywall_cutoff.csv",  # a paywall after a number of free queries (rdd)
}


def example_data(file_name: str = "checkout.csv") -> Path | None:
    """A bundled example dataset (a wheel ships them in assistant/example_data; a checkout has examples/data)."""
    packaged = resources.files("assistant").joinpath("example_data", file_name)
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[1] / "examples" / "data" / file_name
    return checkout if checkout.is_file() else None


def prepare(
    settings: Settings, data: Sequence[str], resume: bool, say: Callable[[str], None], *, with_example: bool = False
) -> Launch:
    """Build the backend, attach data (reporting problems through ``say``), and open or resume the session."""
    from tools.data import Catalog, parse_data_argument
    from tools.errors import ToolError

    for warning in settings.warnings:
        say(f"[note] {warning}")
    catalog = Catalog()
    items = list(data)
    if not items and with_example and settings.guided:
        items = [f"{name}={path}" for name, file in EXAMPLES.items() if (path := example_data(file)) is not None]
    for item in items:
        name, file_path = parse_data_argument(item)
        try:
            dataset = catalog.add(file_path, name)
        except ToolError as error:
            say(f"[error] {error.message} {error.hint}")
            continue
        say(f"[data] {dataset.name}: {dataset.n_rows:,} rows, columns {', '.join(dataset.columns)}")

    messages: list[dict[str, Any]] = []
    brief: Brief | None = None
    store: SessionStore | None = None
    if resume:
        path = latest_session()
        if path is None:
            say("[note] No earlier session to resume; starting a new one.")
        else:
            try:
                loaded = load_session(path)
            except ValueError as exc:
                say(f"[error] {exc} Starting a new session.")
            else:
                messages, brief = loaded.messages, loaded.brief
                for warning in loaded.warnings:
                    say(f"[note] {warning}")
                store = SessionStore(path)
                say(f"[session] resumed {path.name} ({len(messages)} messages)")
    store = store or SessionStore(model="guided" if settings.guided else settings.model)

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
