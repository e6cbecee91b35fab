"""The whyscope terminal app: chat on the left, the brief and the data on the right, tool cards inline.

Every model call and tool run happens in a worker thread; the worker talks back only through messages, so the
UI stays responsive and Esc can cancel a turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static

if TYPE_CHECKING:  # the engine (pydantic, the registry) loads after the first frame, in the start-up worker
    from assistant.agent.backends import Backend
    from assistant.agent.conversation import Conversation, Event
    from assistant.agent.session import SessionStore
    from assistant.launch import Launch
    from assistant.tui.widgets.assistant_message import AssistantMessage

from assistant.tui.slash import LOAD_ENCODING_OPTION, LOAD_USAGE, load_arguments, tool_request
from assistant.tui.widgets.brief_panel import BriefPanel
from assistant.tui.widgets.chat_input import MAX_CHARS, ChatInput
from assistant.tui.widgets.datasets_panel import DatasetsPanel
from assistant.tui.widgets.messages import NoticeMessage, UserMessage
from assistant.tui.widgets.tool_card import ToolCard

__all__ = ["WhyscopeApp"]

HELP = """Commands (no model needed):
/help                 this list
/load PATH [NAME]     attach a CSV or Parquet file (encoding=CODEC for a non-UTF-8 file)
/data                 the attached datasets
/brief                the brief so far
/power k=v …          run the power tool, e.g. /power metric=proportion baseline=0.1 mde=0.05 mde_kind=relative
/run TOOL {json}      run any tool with a JSON request
/export PATH          save the transcript as Markdown
/prereg [PATH|freeze] show the pre-registration, freeze it, or write it (.md, .html, .json)
/plot [PATH.png]      save the latest figure (power curve, event study, overlap, RD plot) as PNG
/model                which model (or the guided mode) is answering
/clear                clear the chat view (the session is kept)
/quit                 leave
Esc cancels a running turn."""


@dataclass
class EngineEvent(Message):
    """An event from the conversation engine, posted from the worker thread."""

    event: Event


@dataclass
class Started(Message):
    """The launcher finished (``launch`` is None when it failed; ``notes`` say what happened)."""

    launch: Launch | None
    notes: list[str]


@dataclass
class TurnEnded(Message):
    """The worker running a turn has ended, however it ended: the app takes messages again."""


@dataclass
class ToolCommandDone(Message):
    """A tool run by ``/power`` or ``/run`` finished (its card was filled through the engine's events)."""


@dataclass
class CommandOutput(Message):
    """The outcome of a slash command run in a worker."""

    text: str
    kind: str = "note"
    catalog_changed: bool = False


class WhyscopeApp(App[None]):
    """The app. ``backend`` is injected (tests script it); ``catalog``/``store`` are optional."""

    CSS_PATH = "app.tcss"
    TITLE = "whyscope"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel turn"),
        Binding("ctrl+q", "quit", "quit"),
        Binding("ctrl+l", "clear", "clear view"),
    ]

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        launcher: Callable[[Callable[[str], None]], Launch] | None = None,
        catalog: Any = None,
        store: SessionStore | None = None,
        messages: list[dict[str, Any]] | None = None,
        brief: Any = None,
    ) -> None:
        """Give a ``backend`` (ready at once; tests) or a ``launcher`` that prepares everything in a worker after
        the first frame (the command line: heavy imports and data loading never delay the window)."""
        super().__init__()
        self.launcher = launcher
        self.busy = False
        self._reply: AssistantMessage | None = None
        self._cards: dict[str, ToolCard] = {}
        self._startup_notes: list[str] = []
        self.first_frame_at: float | None = None  # perf_counter() when the first frame was drawn
        self.catalog: Any = catalog
        self.backend: Backend | None = None
        self.conversation: Conversation | None = None
        if backend is not None:
            if catalog is None:
                from tools.data import Catalog

                catalog = Catalog()
            from assistant.launch import Launch

            self._install(
                Launch(
                    backend=backend,
                    catalog=catalog,
                    store=store,
                    messages=list(messages or []),
                    brief=brief,
                )
            )

    @property
    def session(self) -> Conversation:
        """The conversation (input is disabled until start-up has created it)."""
        assert self.conversation is not None, "used before start-up finished"
        return self.conversation

    def _install(self, launch: Launch) -> None:
        from assistant.agent.conversation import Conversation
        from assistant.agent.guided import GuidedBackend
        from assistant.launch import GUIDED_HINT

        self.backend = launch.backend
        self.catalog = launch.catalog
        self.conversation = Conversation(
            launch.backend, catalog=launch.catalog, messages=launch.messages, store=launch.store
        )
        if launch.brief is not None:
            self.conversation.brief = launch.brief
        self.sub_title = GUIDED_HINT if isinstance(launch.backend, GuidedBackend) else launch.backend.name

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield VerticalScroll(id="chat")
            with Vertical(id="side"):
                yield BriefPanel()
                yield DatasetsPanel()
        if self.conversation is not None:
            yield ChatInput()
        else:  # the text area is built after the first frame, with the engine (it costs a fifth of a second)
            yield Static("starting…", id="input-placeholder")
        yield Footer()

    async def on_mount(self) -> None:
        self.call_after_refresh(self._first_frame)
        if self.conversation is None and self.launcher is not None:
            return
        self.query_one(ChatInput).focus()
        await self._show_conversation()

    async def _first_frame(self) -> None:
        """The window is on screen: now the heavy start-up work may begin (in a worker)."""
        self.first_frame_at = time.perf_counter()
        if self.conversation is None and self.launcher is not None:
            box = ChatInput()
            box.disabled = True
            await self.query_one("#input-placeholder", Static).remove()
            await self.mount(box, before=self.query_one(Footer))
            self.start()

    @work(thread=True, exit_on_error=False, group="start")
    def start(self) -> None:
        from assistant.agent.session import SessionInUse  # after the first frame: the engine loads here

        assert self.launcher is not None
        notes: list[str] = []
        try:
            launch = self.launcher(notes.append)
        except SessionInUse as exc:  # another whyscope holds this session: the message says what to do
            self.post_message(Started(None, [*notes, f"[error] {exc}"]))
            return
        except Exception as exc:  # the window must stay up and say why
            self.post_message(Started(None, [*notes, f"[error] whyscope could not start: {type(exc).__name__}: {exc}"]))
            return
        self.post_message(Started(launch, notes))

    async def on_started(self, message: Started) -> None:
        self._startup_notes = message.notes
        if message.launch is not None:
            self._install(message.launch)
        box = self.query_one(ChatInput)
        box.disabled = message.launch is None
        box.placeholder = "Type a message, or /help  (Enter sends, Ctrl+J adds a line)"
        box.focus()
        await self._show_conversation()

    async def _show_conversation(self) -> None:
        from assistant.tui.widgets.assistant_message import AssistantMessage

        chat = self.query_one("#chat", VerticalScroll)
        for note in self._startup_notes:
            await chat.mount(NoticeMessage(note, kind="error" if note.startswith("[error]") else "note"))
        if self.conversation is None:
            return
        self.query_one(BriefPanel).show(self.conversation.brief)
        self.query_one(DatasetsPanel).show(self.catalog)
        runs = {run.call_id: run for run in self.conversation.runs}
        for message in self.conversation.messages:
            if message.get("role") == "user":
                await chat.mount(UserMessage(str(message.get("content") or "")))
            elif message.get("role") == "assistant" and message.get("content"):
                reply = AssistantMessage()
                await chat.mount(reply)
                await reply.add(str(message["content"]))
            elif message.get("role") == "tool" and (run := runs.get(str(message.get("tool_call_id")))) is not None:
                arguments = run.request.model_dump_json() if run.request is not None else "{}"
                card = ToolCard(run.call_id, run.name, arguments)
                self._cards[run.call_id] = card
                await chat.mount(card)
                card.finish(run.outcome, run.plan_check)
        from assistant.agent.guided import GuidedBackend

        if isinstance(self.backend, GuidedBackend):
            reply = AssistantMessage()
            await chat.mount(reply)
            await reply.add(self.backend.opening())

    # -- input -----------------------------------------------------------------------------------------------

    @on(ChatInput.Submitted)
    async def submitted(self, event: ChatInput.Submitted) -> None:
        text = event.value.strip()
        box = self.query_one(ChatInput)
        if not text:
            return
        if len(text) > MAX_CHARS:
            await self.query_one("#chat", VerticalScroll).mount(
                NoticeMessage(
                    f"That message is {len(text):,} characters; the limit is {MAX_CHARS:,}. Nothing was "
                    "sent: attach long content as a file with /load.",
                    kind="error",
                )
            )
            return
        if self.busy and (not text.startswith("/") or text.split(" ", 1)[0] in ("/power", "/run")):
            # one turn at a time (the history must stay a valid sequence of calls and answers): keep the text
            await self.query_one("#chat", VerticalScroll).mount(
                NoticeMessage("Still working on the previous message (Esc to stop); yours stays in the box.")
            )
            self.notify("Still working — Esc to stop.", severity="warning")
            return
        box.remember(text)
        box.value = ""
        if text.startswith("/"):
            await self.command(text)
            return
        await self.query_one("#chat", VerticalScroll).mount(UserMessage(text))
        self.busy = True
        self._reply = None
        self.converse(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="turn")
    def converse(self, text: str) -> None:
        """Run one turn; however it ends (an answer, Esc, a bug), :class:`TurnEnded` frees the input."""

        def emit(event: Event) -> None:
            self.post_message(EngineEvent(event))

        try:
            self.session.send(text, emit)
        except Exception as exc:  # the conversation catches its own failures; this is the last line for a bug
            from assistant.agent.events import Failed

            emit(
                Failed(
                    "internal_error",
                    f"The turn failed unexpectedly ({type(exc).__name__}).",
                    "This is a bug in whyscope; the conversation is kept, send the message again.",
                )
            )
        finally:
            self.post_message(TurnEnded())

    def on_turn_ended(self, message: TurnEnded) -> None:
        self.busy = False
        self._reply = None

    async def on_engine_event(self, message: EngineEvent) -> None:
        from assistant.agent.conversation import (
            BriefUpdated,
            Done,
            Failed,
            Notice,
            TextDelta,
            ToolFinished,
            ToolProgress,
            ToolStarted,
        )
        from assistant.tui.widgets.assistant_message import AssistantMessage

        event = message.event
        chat = self.query_one("#chat", VerticalScroll)
        if isinstance(event, TextDelta):
            if self._reply is None:
                self._reply = AssistantMessage()
                await chat.mount(self._reply)
            await self._reply.add(event.text)
        elif isinstance(event, ToolStarted):
            card = ToolCard(event.call_id, event.name, event.arguments)
            self._cards[event.call_id] = card
            await chat.mount(card)
            self._reply = None
        elif isinstance(event, ToolProgress):
            if (running := self._cards.get(event.call_id)) is not None:
                running.progress(event.done, event.total, event.label)
        elif isinstance(event, ToolFinished):
            card_or_none = self._cards.get(event.call_id)
            if card_or_none is not None:
                card_or_none.finish(event.outcome, event.plan_check)
        elif isinstance(event, BriefUpdated):
            self.query_one(BriefPanel).show(event.brief)
        elif isinstance(event, Notice):
            await chat.mount(NoticeMessage(event.message))
        elif isinstance(event, Failed):
            await chat.mount(NoticeMessage(f"{event.message} {event.hint}", kind="error"))
            self.notify(event.message, severity="error")
        elif isinstance(event, Done):
            if event.unverified and self._reply is not None:
                await self._reply.mark(event.unverified)
            if event.unverified:
                await chat.mount(
                    NoticeMessage(
                        "Unverified numbers (not from a tool or your words): " + ", ".join(event.unverified),
                        kind="unverified",
                    )
                )
            self.busy = False
            self._reply = None
        chat.scroll_end(animate=False)

    def action_cancel(self) -> None:
        if self.busy:
            self.session.cancel.set()
            self.notify("Cancelling…")

    async def action_clear(self) -> None:
        await self.query_one("#chat", VerticalScroll).remove_children()

    # -- slash commands --------------------------------------------------------------------------------------

    async def command(self, text: str) -> None:
        chat = self.query_one("#chat", VerticalScroll)
        name, _, rest = text.partition(" ")
        rest = rest.strip()
        await chat.mount(UserMessage(text))
        if name == "/help":
            await chat.mount(NoticeMessage(HELP))
        elif name == "/quit":
            self.exit()
        elif name == "/clear":
            await self.action_clear()
        elif name == "/brief":
            from assistant.agent.session import export_markdown

            await chat.mount(NoticeMessage(export_markdown([], self.session.brief).split("## Conversation")[0]))
        elif name == "/data":
            names = [f"{d.name}: {d.n_rows:,} rows, {len(d.columns)} columns" for d in self.catalog]
            await chat.mount(NoticeMessage("\n".join(names) or "No data attached: /load PATH"))
        elif name == "/model":
            await chat.mount(
                NoticeMessage(
                    f"Answering: {self.sub_title}. Start with --model/--base-url (or "
                    "OPENAI_API_KEY) to use a model; --offline for the guided mode."
                )
            )
        elif name == "/prereg":
            self.prereg(rest)
        elif name == "/plot":
            await self._plot(chat, rest)
        elif name == "/export":
            self.export(rest)
        elif name == "/load":
            if not rest:
                await chat.mount(NoticeMessage(f"Usage: {LOAD_USAGE}", kind="error"))
            else:
                self.load(rest)
        elif name in ("/power", "/run"):
            request = tool_request(name, rest)
            if isinstance(request, str):
                await chat.mount(NoticeMessage(request, kind="error"))
            elif self.busy:  # one thing at a time: the history must stay a valid sequence of calls and answers
                await chat.mount(NoticeMessage("Still working on the previous message (Esc to stop); run it then."))
            else:
                self.busy = True
                self._reply = None
                self.run_tool(*request, text)
        else:
            await chat.mount(NoticeMessage(f"Unknown command {name}; /help lists them.", kind="error"))
        chat.scroll_end(animate=False)

    async def _plot(self, chat: VerticalScroll, rest: str) -> None:
        from assistant.figures import has_figure
        from tools.results import ToolResult

        latest = next(
            (
                card
                for card in reversed(list(self._cards.values()))
                if isinstance(card.outcome, ToolResult) and has_figure(card.outcome)
            ),
            None,
        )
        if latest is None:
            await chat.mount(NoticeMessage("No figure yet: run power, diff_in_diff, propensity or rdd first.", "error"))
            return
        self.save_plot(latest.outcome, rest or f"{latest.tool_name}.png", latest.tool_name)

    @work(thread=True, exit_on_error=False, group="commands")
    def save_plot(self, result: Any, path: str, title: str) -> None:
        from assistant.figures import FigureError, save_figure

        target = Path(path).expanduser()
        try:  # save_figure refuses an existing file, any link (a dangling one too) and a missing folder
            saved = save_figure(result, target, title=title)
        except FigureError as error:
            self.post_message(CommandOutput(str(error), "error"))
            return
        self.post_message(CommandOutput(f"Saved the {title} figure to {saved.resolve()}"))

    @work(thread=True, exit_on_error=False, group="commands")
    def run_tool(self, tool: str, arguments: dict[str, Any], command: str = "") -> None:
        """Run a tool for ``/power`` or ``/run`` through the conversation, as a call from the model runs: the
        frozen plan, the pre-registration, provenance and the session all see it; Esc cancels it."""

        def emit(event: Event) -> None:
            self.post_message(EngineEvent(event))

        try:
            self.session.run_tool(tool, arguments, emit, command=command)
        except Exception as exc:  # the window stays up and says why
            self.post_message(CommandOutput(f"{tool} could not run: {type(exc).__name__}: {exc}", "error"))
        finally:
            self.post_message(ToolCommandDone())

    def on_tool_command_done(self, message: ToolCommandDone) -> None:
        self.busy = False

    @work(thread=True, exit_on_error=False, group="commands")
    def load(self, arguments: str) -> None:
        from tools.data import with_encoding_option
        from tools.errors import ToolError

        command = load_arguments(arguments)
        if isinstance(command, str):
            self.post_message(CommandOutput(command, "error"))
            return
        try:
            dataset = self.catalog.add(command.path, command.name, encoding=command.encoding)
        except ToolError as error:
            error = with_encoding_option(error, LOAD_ENCODING_OPTION)
            self.post_message(CommandOutput(f"{error.message} {error.hint}", "error"))
            return
        except Exception as exc:  # a bug must not leave /load silent
            self.post_message(CommandOutput(f"Could not attach {command.path}: {type(exc).__name__}: {exc}", "error"))
            return
        notes = "".join(f"\n  note: {n}" for n in dataset.notes)
        self.post_message(
            CommandOutput(
                f"Attached '{dataset.name}': {dataset.n_rows:,} rows; columns {', '.join(dataset.columns)}{notes}",
                catalog_changed=True,
            )
        )

    @work(thread=True, exit_on_error=False, group="commands")
    def prereg(self, argument: str) -> None:
        from assistant.prereg.commands import prereg_command

        self.post_message(CommandOutput(*prereg_command(self.session, argument)))

    @work(thread=True, exit_on_error=False, group="commands")
    def export(self, path: str) -> None:
        from assistant.agent.session import export_markdown
        from assistant.writing import write_new
        from tools.errors import ToolError

        if not path:
            self.post_message(CommandOutput("Usage: /export PATH", "error"))
            return
        data = export_markdown(self.session.messages, self.session.brief, self.session.runs).encode("utf-8")
        try:  # the one rule for new files: never over a file or through a link, never into a missing folder
            target = write_new(path, lambda handle: handle.write(data))
        except ToolError as error:
            self.post_message(CommandOutput(f"{error.message} {error.hint}", "error"))
            return
        self.post_message(CommandOutput(f"Transcript saved to {target}."))

    async def on_command_output(self, message: CommandOutput) -> None:
        chat = self.query_one("#chat", VerticalScroll)
        await chat.mount(NoticeMessage(message.text, kind=message.kind))
        if message.kind == "error":
            self.notify(message.text.split(". ")[0], severity="error")
        if message.catalog_changed:
            self.query_one(DatasetsPanel).show(self.catalog)
        chat.scroll_end(animate=False)
