"""The whyscope terminal app: chat on the left, the brief and the data on the right, tool cards inline.

Every model call and tool run happens in a worker thread; the worker talks back only through messages, so the
UI stays responsive and Esc can cancel a turn. While a turn runs, a status line says so, and what the user sends
meanwhile waits in a queue (shown in the chat) and goes in order when the turn ends. Below
:data:`NARROW_WIDTH` columns the side panel folds away (F2 shows it) and the chat keeps its latest line in view.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Collapsible, Footer, Header, Static

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
from assistant.tui.widgets.messages import NoticeMessage, QueuedMessage, UserMessage
from assistant.tui.widgets.tool_card import ToolCard

__all__ = ["NARROW_WIDTH", "WhyscopeApp"]

#: Below this many columns the side panel (brief, data) is folded away so the chat keeps a readable width; F2
#: shows or hides it at any width.
NARROW_WIDTH = 100
#: The status line's spinner, one frame a tick.
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: What waits its turn when sent while a turn or tool runs (the history must stay a valid sequence of calls and
#: answers); every other command runs at once.
QUEUED_COMMANDS = ("/power", "/run")

HELP = """Commands (no model needed):
/help                 this list
/load PATH [NAME]     attach a CSV or Parquet file (encoding=CODEC for a non-UTF-8 file; --replace to replace
                      a dataset already attached under that name)
/data                 the attached datasets
/brief                the brief so far
/power k=v …          run the power tool, e.g. /power metric=proportion baseline=0.1 mde=0.05 mde_kind=relative
/run TOOL {json}      run any tool with a JSON request
/export PATH          save the transcript as Markdown
/prereg [PATH|missing|answer ITEM TEXT|freeze [anyway]]
                      show the pre-registration, list or answer its open items, freeze it, or write it
/plot [PATH.png]      save the latest figure (power curve, event study, synthetic control, overlap, RD plot)
/model                which model (or the guided mode) is answering
/clear                clear the chat view (the session is kept)
/quit                 leave
Esc cancels a running turn (and what you queued meanwhile). Messages sent while whyscope is working wait their
turn and go in order. F2 shows or hides the brief and data panel."""


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
    """The outcome of a slash command run in a worker. ``slot`` names the command (see ``WhyscopeApp._pending``):
    its output goes right after the command's line, so it never lands after later commands; ``markdown`` renders
    the text (headings, lists, tables)."""

    text: str
    kind: str = "note"
    catalog_changed: bool = False
    slot: int | None = None
    markdown: bool = False


class WhyscopeApp(App[None]):
    """The app. ``backend`` is injected (tests script it); ``catalog``/``store`` are optional."""

    CSS_PATH = "app.tcss"
    TITLE = "whyscope"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_WIDTH, "-wide")]  # noqa: RUF012 - as App declares it
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel turn"),
        Binding("ctrl+q", "quit", "quit"),
        Binding("ctrl+l", "clear", "clear view"),
        Binding("f2", "toggle_panel", "brief/data panel"),
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
        #: Messages (and /power, /run) sent while busy, in order, with the widget showing each as queued.
        self.queued: list[tuple[str, QueuedMessage]] = []
        self._activity = "working"
        self._spin = 0
        self._spinner: Timer | None = None
        self._busy_since = time.monotonic()
        #: Commands running in workers, by slot: the command's line in the chat (its output goes right after it,
        #: never after later commands) and what the status line says meanwhile.
        self._slots: dict[int, tuple[UserMessage, str]] = {}
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
            launch.backend,
            catalog=launch.catalog,
            messages=launch.messages,
            store=launch.store,
            small_model=launch.small_model,
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
        yield Static("", id="status")
        if self.conversation is not None:
            yield ChatInput()
        else:  # the text area is built after the first frame, with the engine (it costs a fifth of a second)
            yield Static("starting…", id="input-placeholder")
        yield Footer()

    async def on_mount(self) -> None:
        self.call_after_refresh(self._first_frame)
        # the chat follows its newest line (the current question stays in view) until the user scrolls up
        self.query_one("#chat", VerticalScroll).anchor()
        self.query_one("#status", Static).display = False
        self._spinner = self.set_interval(0.1, self._tick, pause=True)
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
        self._follow(chat)

    def _follow(self, chat: VerticalScroll) -> None:
        """Keep the newest line in view: now, and once the latest widgets are laid out (a Markdown reply grows
        after it is mounted)."""
        chat.scroll_end(animate=False)
        self.call_after_refresh(chat.scroll_end, animate=False)

    # -- busy, queue, status ---------------------------------------------------------------------------------

    def _set_busy(self, busy: bool, activity: str = "thinking") -> None:
        if busy and (not self.busy or activity != self._activity):
            self._busy_since = time.monotonic()  # what the status line counts the elapsed time from
        self.busy = busy
        self._activity = activity
        self._show_status()

    def _show_status(self) -> None:
        """The status line: what runs (a turn, a tool, commands in workers) and how many messages wait."""
        elapsed = int(time.monotonic() - self._busy_since)
        took = f" {elapsed} s" if elapsed >= 2 else ""  # a long query in an engine shows how long it has run
        parts = [f"{self._activity}…{took} (Esc stops it; what you send now waits its turn)"] if self.busy else []
        parts += [f"{what}…" for _, what in self._slots.values()]
        if self.queued:
            parts.append(f"{len(self.queued)} queued")
        working = self.busy or bool(self._slots)
        if self._spinner is not None:
            self._spinner.resume() if working else self._spinner.pause()
        status = self.query_one("#status", Static)
        status.display = bool(parts)
        if parts:
            status.update(f"{SPINNER[self._spin % len(SPINNER)] if working else '…'} " + " · ".join(parts))

    def _tick(self) -> None:
        self._spin += 1
        self._show_status()

    async def _advance(self) -> None:
        """A turn or tool run has ended: send what was queued meanwhile, in order, until one of them starts another
        (its end comes back here). The app stays busy while the queue is handed on, so nothing sees it idle with
        a message still on its way."""
        while self.queued:
            text, waiting = self.queued.pop(0)
            await waiting.remove()
            if await self._dispatch(text):
                return
        self._set_busy(False)

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
        box.remember(text)
        box.value = ""
        if (self.busy or self.queued) and (not text.startswith("/") or text.split(" ", 1)[0] in QUEUED_COMMANDS):
            # one turn at a time (the history must stay a valid sequence of calls and answers): it waits its turn
            chat = self.query_one("#chat", VerticalScroll)
            waiting = QueuedMessage(text)
            self.queued.append((text, waiting))
            await chat.mount(waiting)
            self._show_status()
            self._follow(chat)
            return
        await self._dispatch(text)

    async def _dispatch(self, text: str) -> bool:
        """Send a message to the conversation, or run a command (the app is free for it); True when a turn or a
        tool run started (the app is busy until it ends)."""
        if text.startswith("/"):
            return await self.command(text)
        self._set_busy(True)
        self._reply = None
        chat = self.query_one("#chat", VerticalScroll)
        await chat.mount(UserMessage(text))
        self._follow(chat)
        self.converse(text)
        return True

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

    async def on_turn_ended(self, message: TurnEnded) -> None:
        self._reply = None
        await self._advance()

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
            if self._reply is None or self._reply.parent is None:  # a new reply, or the view was cleared
                self._reply = AssistantMessage()
                await chat.mount(self._reply)
                self._activity = "answering"
            await self._reply.add(event.text)
        elif isinstance(event, ToolStarted):
            card = ToolCard(event.call_id, event.name, event.arguments)
            self._cards[event.call_id] = card
            await chat.mount(card)
            self._reply = None
            self._activity = f"running {event.name}"
        elif isinstance(event, ToolProgress):
            if (running := self._cards.get(event.call_id)) is not None:
                running.progress(event.done, event.total, event.label)
            if event.total > 0:
                self._activity = f"running {event.name} {min(event.done, event.total)}/{event.total}"
        elif isinstance(event, ToolFinished):
            card_or_none = self._cards.get(event.call_id)
            if card_or_none is not None:
                card_or_none.finish(event.outcome, event.plan_check)
            self._activity = "thinking"
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
            if event.claims and self._reply is not None:
                await self._reply.mark(tuple(claim.text for claim in event.claims))
            for claim in event.claims:
                what = "Unsupported" if claim.problem == "unsupported" else "Contradicted"
                await chat.mount(NoticeMessage(f"{what} claim '{claim.text}': {claim.reason}", kind="unverified"))
            self._reply = None  # the app is free once the worker has ended (TurnEnded), not before
        self._show_status()
        self._follow(chat)

    def action_cancel(self) -> None:
        if self.busy:
            self.session.cancel.set()
            for _, waiting in self.queued:  # Esc stops everything the user started; Up recalls what was queued
                waiting.dropped()
            dropped = len(self.queued)
            self.queued.clear()
            self._activity = "cancelling"
            self._show_status()
            self.notify("Cancelling…" + (f" {dropped} queued message(s) not sent." if dropped else ""))

    async def action_clear(self) -> None:
        chat = self.query_one("#chat", VerticalScroll)
        await chat.remove_children()
        # the view is cleared, not what waits its turn: the queued messages stay (and stay shown)
        self.queued = [(text, QueuedMessage(text)) for text, _ in self.queued]
        for _, waiting in self.queued:
            await chat.mount(waiting)
        self._show_status()

    def action_toggle_panel(self) -> None:
        """Show or hide the brief and data panel: folded by default below :data:`NARROW_WIDTH` columns."""
        side = self.query_one("#side", Vertical)
        side.toggle_class("-open" if self.screen.has_class("-narrow") else "-closed")

    def on_key(self, event: events.Key) -> None:
        """Typing goes to the message box wherever the focus is (a card expanded from the keyboard keeps it)."""
        box = next(iter(self.query(ChatInput)), None)
        if box is None or box.disabled or self.focused is box or not event.is_printable or not event.character:
            return
        if box.screen is not self.screen:  # another screen (the command palette) has the keyboard
            return
        event.stop()
        event.prevent_default()
        box.focus()
        box.insert(event.character)

    @on(Collapsible.Toggled)
    def card_toggled(self, event: Collapsible.Toggled) -> None:
        """A card opened or closed (from the keyboard too): the next thing typed goes to the message box."""
        if (box := next(iter(self.query(ChatInput)), None)) is not None and not box.disabled:
            box.focus()

    # -- slash commands --------------------------------------------------------------------------------------

    async def command(self, text: str) -> bool:
        """Run a slash command; True when it started a tool run (``/power``, ``/run``: busy until it ends)."""
        chat = self.query_one("#chat", VerticalScroll)
        started = False
        name, _, rest = text.partition(" ")
        rest = rest.strip()
        echo = UserMessage(text)
        await chat.mount(echo)
        if name == "/help":
            await chat.mount(NoticeMessage(HELP))
        elif name == "/quit":
            self.exit()
        elif name == "/clear":
            await self.action_clear()
        elif name == "/brief":
            from assistant.agent.session import export_markdown
            from assistant.tui.widgets.markdown_note import MarkdownNote

            await chat.mount(MarkdownNote(export_markdown([], self.session.brief).split("## Conversation")[0]))
        elif name == "/data":
            names = [
                f"{d.name}: {d.n_rows:,} rows, {len(d.columns)} columns: {', '.join(d.columns)}" for d in self.catalog
            ]
            await chat.mount(NoticeMessage("\n".join(names) or "No data attached: /load PATH"))
        elif name == "/model":
            await chat.mount(
                NoticeMessage(
                    f"Answering: {self.sub_title}. Start with --model/--base-url (or "
                    "OPENAI_API_KEY) to use a model; --offline for the guided mode."
                )
            )
        elif name == "/prereg":
            self.prereg(rest, self._pending(echo, "working on the pre-registration"))
        elif name == "/plot":
            await self._plot(chat, echo, rest)
        elif name == "/export":
            self.export(rest, self._pending(echo, "saving the transcript"))
        elif name == "/load":
            if not rest:
                await chat.mount(NoticeMessage(f"Usage: {LOAD_USAGE}", kind="error"))
            else:
                self.load(rest, self._pending(echo, "reading the file"))
        elif name in QUEUED_COMMANDS:
            request = tool_request(name, rest)
            if isinstance(request, str):
                await chat.mount(NoticeMessage(request, kind="error"))
            else:  # the app is free: what comes while it is busy waits its turn
                self._set_busy(True, f"running {request[0]}")
                self._reply = None
                self.run_tool(*request, text)
                started = True
        else:
            await chat.mount(NoticeMessage(f"Unknown command {name}; /help lists them.", kind="error"))
        self._follow(chat)
        return started

    def _pending(self, echo: UserMessage, what: str) -> int:
        """A command handed to a worker: the status line says ``what`` it is doing until its output arrives, and
        the output goes right after the command's line ``echo``, so it never lands after later commands."""
        slot = max(self._slots, default=0) + 1
        self._slots[slot] = (echo, what)
        self._show_status()
        return slot

    async def _plot(self, chat: VerticalScroll, echo: UserMessage, rest: str) -> None:
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
            from tools.registry import TOOLS  # loaded by now (the start-up worker)

            drawn = [spec.name for spec in TOOLS if spec.result.figure is not None]
            notice = f"No figure yet: run {', '.join(drawn[:-1])} or {drawn[-1]} first."
            await chat.mount(NoticeMessage(notice, "error"))
            return
        path = rest or f"{latest.tool_name}.png"
        slot = self._pending(echo, f"drawing the {latest.tool_name} figure into {path}")
        self.save_plot(latest.outcome, path, latest.tool_name, slot)

    @work(thread=True, exit_on_error=False, group="commands")
    def save_plot(self, result: Any, path: str, title: str, slot: int | None = None) -> None:
        from assistant.figures import FigureError, save_figure

        target = Path(path).expanduser()
        try:  # save_figure refuses an existing file, any link (a dangling one too) and a missing folder
            saved = save_figure(result, target, title=title)
        except FigureError as error:
            self.post_message(CommandOutput(str(error), "error", slot=slot))
            return
        except Exception as exc:  # a bug must not leave /plot unanswered
            text = f"The figure was not saved: {type(exc).__name__}: {exc}"
            self.post_message(CommandOutput(text, "error", slot=slot))
            return
        self.post_message(CommandOutput(f"Saved the {title} figure to {saved.resolve()}", slot=slot))

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

    async def on_tool_command_done(self, message: ToolCommandDone) -> None:
        await self._advance()

    @work(thread=True, exit_on_error=False, group="commands")
    def load(self, arguments: str, slot: int | None = None) -> None:
        from tools.data import with_encoding_option
        from tools.errors import ToolError

        command = load_arguments(arguments)
        if isinstance(command, str):
            self.post_message(CommandOutput(command, "error", slot=slot))
            return
        try:
            from assistant.launch import attached_under, columns_line

            taken = attached_under(self.catalog, command.path, command.name)
            if taken is not None and not command.replace:  # never replace what the conversation may rely on
                self.post_message(CommandOutput(_refuse_replace(taken, command.path), "error", slot=slot))
                return
            dataset = self.catalog.add(command.path, command.name, encoding=command.encoding)
        except ToolError as error:
            error = with_encoding_option(error, LOAD_ENCODING_OPTION)
            self.post_message(CommandOutput(f"{error.message} {error.hint}", "error", slot=slot))
            return
        except Exception as exc:  # a bug must not leave /load silent
            self.post_message(
                CommandOutput(f"Could not attach {command.path}: {type(exc).__name__}: {exc}", "error", slot=slot)
            )
            return
        notes = "".join(f"\n  note: {n}" for n in dataset.notes)
        replaced = f" (replacing the earlier '{taken.name}', {taken.n_rows:,} rows)" if taken is not None else ""
        self.post_message(
            CommandOutput(
                f"Attached '{dataset.name}'{replaced}: {dataset.n_rows:,} rows; {columns_line(list(dataset.columns))}"
                f"{notes}",
                catalog_changed=True,
                slot=slot,
            )
        )

    @work(thread=True, exit_on_error=False, group="commands")
    def prereg(self, argument: str, slot: int | None = None) -> None:
        from assistant.prereg.commands import prereg_command

        try:
            text, kind = prereg_command(self.session, argument)
        except Exception as exc:  # a bug must not leave /prereg unanswered
            self.post_message(CommandOutput(f"/prereg failed: {type(exc).__name__}: {exc}", "error", slot=slot))
            return
        # the document itself is Markdown (headings, tables): rendered; the other outcomes are one sentence
        self.post_message(CommandOutput(text, kind, slot=slot, markdown=not argument.strip() and kind == "note"))

    @work(thread=True, exit_on_error=False, group="commands")
    def export(self, path: str, slot: int | None = None) -> None:
        from assistant.agent.session import export_markdown
        from assistant.writing import write_new
        from tools.errors import ToolError

        if not path:
            self.post_message(CommandOutput("Usage: /export PATH", "error", slot=slot))
            return
        data = export_markdown(self.session.messages, self.session.brief, self.session.runs).encode("utf-8")
        try:  # the one rule for new files: never over a file or through a link, never into a missing folder
            target = write_new(path, lambda handle: handle.write(data))
        except ToolError as error:
            self.post_message(CommandOutput(f"{error.message} {error.hint}", "error", slot=slot))
            return
        self.post_message(CommandOutput(f"Transcript saved to {target}.", slot=slot))

    async def on_command_output(self, message: CommandOutput) -> None:
        chat = self.query_one("#chat", VerticalScroll)
        output: Widget
        if message.markdown:
            from assistant.tui.widgets.markdown_note import MarkdownNote

            output = MarkdownNote(message.text)
        else:
            output = NoticeMessage(message.text, kind=message.kind)
        echo, _ = self._slots.pop(message.slot, (None, "")) if message.slot is not None else (None, "")
        if echo is not None and echo.parent is chat:  # right after its command, not after later ones
            following = chat.children[chat.children.index(echo) + 1 :]
            await chat.mount(output, after=echo)
            if following:  # later commands came first: say where this output went
                self.notify(f"{echo.text.split(' ', 1)[0]} finished: its output is above, after the command.")
        else:
            await chat.mount(output)
        self._show_status()
        if message.kind == "error":
            self.notify(message.text.split(". ")[0], severity="error")
        if message.catalog_changed:
            self.query_one(DatasetsPanel).show(self.catalog)
        self._follow(chat)


def _refuse_replace(taken: Any, path: str) -> str:
    """Why ``/load`` did not replace an attached dataset, and the two ways on."""
    quoted = f'"{path}"' if " " in path else path
    other = f"{taken.name}_2"
    return (
        f"A dataset named '{taken.name}' is already attached ({taken.path.name}, {taken.n_rows:,} rows); nothing "
        f"was replaced. To replace it: /load {quoted} {taken.name} --replace. To keep both, give the new one "
        f"another name: /load {quoted} {other}."
    )
