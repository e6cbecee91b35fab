"""What a registered tool is: its models and function, and everything each surface needs to know about it.

A tool is declared once, as a :class:`ToolSpec` in its own package (``tools/<family>/spec.py``), and listed once in
:data:`tools.registry.TOOLS`. Every surface reads the spec instead of keeping a table of its own:

- the model's schemas and the command line: ``request``, ``result``, ``implementation``;
- ``recommend_method``: ``designs`` (which of its designs this tool runs);
- the conversation's toolsets: ``offer`` and ``mentions`` (the words that bring the tool into the request);
- the guided mode: ``guide`` (the column roles it asks for and how they become a request), or ``no_guide`` (why the
  guided mode does not run it on data);
- the guided mode's follow-ups: ``follows`` (the analyses after which it is offered on the same data);
- refute: ``battery`` (the automatic checks, the others that apply, and the design adapter that refits it), or
  ``no_battery`` (why an estimate is not challenged by refute itself);
- the pre-registration: ``plans`` (an analysis plan derived from the request model);
- the app's card and plot and the PNG figure: the result model's own ``figure`` and ``plot_fields``;
- the schema's design-specific fields: ``later_fields`` (which join once that design's tools are offered).

This module is light (standard library and pydantic models only): listing tools never imports pandas.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.results import ToolRequest, ToolResult

__all__ = ["Battery", "Guide", "ToolFunction", "ToolSpec", "as_list", "number"]

ToolFunction = Callable[..., ToolResult]  # (request, frame or Dataset or None, **control) -> result
#: (dataset name, the roles the user agreed: role -> column, list of columns, or value) -> the tool's request.
RequestBuilder = Callable[[str, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Guide:
    """How the guided mode runs a tool on the user's own data: the column roles it asks for, how it asks, the name
    words that break ties when it proposes columns from what they hold, and how the agreed roles become the tool's
    request. No statistics: the tool checks the columns."""

    #: Roles that must have a value before the tool can run.
    required: tuple[str, ...]
    #: Roles the user may add.
    optional: tuple[str, ...]
    #: Words in a dataset's name that make it the likely one for this design.
    dataset_words: tuple[str, ...]
    #: The question that asks for the roles (shown with the proposal).
    question: str
    #: (dataset, roles) -> request; see :data:`RequestBuilder`.
    build: RequestBuilder
    #: Roles proposed from the data, in order (the outcome first, from the brief's metric; a panel's time before its
    #: unit).
    suggest: tuple[str, ...] = ()
    #: Groups of roles of which exactly one is needed (a DiD names a cohort column OR a treatment flag): naming one
    #: drops the others.
    one_of: tuple[tuple[str, ...], ...] = ()
    #: Fixed proposals (an RD's treated side is "above" until the user says otherwise).
    defaults: Mapping[str, str] = field(default_factory=dict)
    #: A role proposed as the columns left that are no ID, no panel key, not the outcome in another form and not
    #: named as measured after treatment (covariates), at most ``rest_cap`` of them.
    rest_as: str | None = None
    #: Name words for a role (role -> words), tried before the guided mode's common words for that role name.
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Roles that hold a list of columns (given comma-separated).
    lists: tuple[str, ...] = ()
    #: Roles whose value is not a column name (a cutoff, a side, a metric kind, a control label, a planned split):
    #: every other role must name a column of the dataset.
    values: tuple[str, ...] = ()
    #: The most columns proposed for ``rest_as`` (a wide file gets a short list; the user can add more).
    rest_cap: int = 10
    #: What the user can do when no column of their data can play a role (role -> advice; for a group of
    #: ``one_of``, any of its roles).
    remedies: Mapping[str, str] = field(default_factory=dict)
    #: The experiment proposer: the arm column, the brief's metric, its kind and a pre-period covariate (ab_test).
    experiment: bool = False

    @property
    def roles(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


@dataclass(frozen=True)
class Battery:
    """The tool's refutation battery: what ``checks: ["auto"]`` runs, what else applies, and the adapter that refits
    the tool for the simulations (``"package.module:Class"``, imported when refute runs)."""

    auto: tuple[str, ...]
    more: tuple[str, ...]
    design: str

    @property
    def applicable(self) -> tuple[str, ...]:
        return (*self.auto, *self.more)


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool: its stable name, request and result models, pure function, and what each surface needs.

    ``implementation`` is the function itself or its import path ``"package.module:name"``, loaded on first use so
    that listing tools and building schemas never imports what a tool needs to run (pandas, say).
    """

    name: str
    request: type[ToolRequest]
    result: type[ToolResult]
    implementation: ToolFunction | str
    #: The tool receives the catalog's :class:`~tools.data.Dataset` (it reads ``frame`` itself, or streams a
    #: large Parquet file not read yet) instead of a copy of the frame.
    takes_dataset: bool = False
    #: The function takes keyword arguments ``progress(done, total, label)`` and ``cancel`` (a
    #: ``threading.Event``): long simulations report progress and stop when asked.
    reports_progress: bool = False
    #: ``recommend_method``'s designs this tool runs (e.g. ``("ab_test", "cluster_ab_test")``).
    designs: tuple[str, ...] = ()
    #: "always": offered on every request (the scoping tools); "mentioned": once the conversation reaches it (its
    #: ``mentions`` said, recommended, or called); "after_analysis": once an estimator is near (refute).
    offer: Literal["always", "mentioned", "after_analysis"] = "mentioned"
    #: Words (lower case, matched at word starts) that bring the tool into the request.
    mentions: tuple[str, ...] = ()
    #: How the guided mode runs it on the user's data, or None with ``no_guide`` saying why not.
    guide: Guide | None = None
    no_guide: str = ""
    #: Refute's battery for this tool's estimate, or None when it is not an estimate refute challenges.
    battery: Battery | None = None
    #: Why an estimating tool has no battery (its estimate builds on another tool's, which refute challenges).
    no_battery: str = ""
    #: The analyses after which the guided mode offers this tool as a follow-up, on the same data (heterogeneity
    #: after an A/B test or a propensity analysis: "for whom did it work?").
    follows: tuple[str, ...] = ()
    #: The pre-registration has an analysis plan for it (every request field, all optional).
    plans: bool = False
    #: Request fields the model's schema leaves out until one of the named tools is offered too (power's
    #: ``design``, a quasi-experiment's sizing, joins with diff_in_diff, rdd and synthetic_control): the first
    #: request stays small, and the request model accepts the field whenever it is given.
    later_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: For a tool that runs in memory on a table in an engine: ``"package.module:function"`` that reduces the table
    #: in the engine to the frame the tool needs, ``(request, table) -> (frame, notes)`` (diff_in_diff's unit x
    #: period panel); None: the table's rows are pulled as they are (within the engine's limit).
    engine_frame: str | None = None

    @property
    def function(self) -> ToolFunction:
        function: ToolFunction = _load(self.implementation)
        return function

    @property
    def description(self) -> str:
        """What the model reads to decide when to use the tool: the request model's docstring, paragraphs
        unwrapped (source line breaks inside a paragraph only cost tokens)."""
        paragraphs = inspect.cleandoc(self.request.__doc__ or "").split("\n\n")
        return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.splitlines()[0] if self.description else ""

    @property
    def uses_data(self) -> bool:
        """Whether the request names a dataset from the catalog (a field, or a property that reads it from a
        nested request, as refute's target does)."""
        return "dataset" in self.request.model_fields or isinstance(getattr(self.request, "dataset", None), property)

    @property
    def estimates(self) -> bool:
        """Whether the tool estimates an effect from data (it has a refute battery or an analysis plan)."""
        return self.battery is not None or self.plans


def _load(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


# -- helpers for the request builders of guides ------------------------------------------------------------------


def as_list(value: Any) -> list[str]:
    """A role's columns as a list (the user may give them comma-separated)."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [c.strip() for c in str(value).split(",") if c.strip()]


def number(value: Any, what: str = "value") -> float:
    """A number the user typed (thousands separators allowed: 1,000)."""
    text = str(value).replace(",", "").strip()
    match = re.search(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", text)
    if match is None:
        raise ValueError(f"the {what} {value!r} is not a number")
    return float(match.group(0))
