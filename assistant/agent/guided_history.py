"""The guided mode's answers after its own measuring and checking tools (a mixin of
:class:`~assistant.agent.guided.GuidedBackend`, kept apart so the backend's module stays small): ``metric_history``
(the sizing's baseline and spread measured on an attached history, a cluster design's units per cluster and ICC, a
difference-in-differences' ICC), the A/A check and the analysis's follow-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from assistant.agent.guided_state import GuidedState, Step

if TYPE_CHECKING:
    from assistant.agent.backends import AssistantTurn
    from assistant.agent.guided_columns import UnitColumn

__all__ = ["MeasuredHistory"]


class MeasuredHistory:
    """What the guided mode says and records once a history was measured, an A/A check ran or a follow-up ran (the
    backend's turns do the talking)."""

    state: GuidedState

    if TYPE_CHECKING:

        def _ask(self, step: Step | None, on_text: Callable[[str], None], prefix: str = "") -> AssistantTurn: ...

        def _say(self, text: str, on_text: Callable[[str], None]) -> AssistantTurn: ...

        def _question(self, step: Step) -> str: ...

        def _next(self) -> Step | None: ...

        def _unit_column(self, dataset: str, metric: str) -> UnitColumn | None: ...

    def _after_history(self, payload: Mapping[str, Any], on_text: Callable[[str], None]) -> AssistantTurn:
        """The history measured: its baseline (and, for an average, its standard deviation) are the sizing's,
        said by the tool's summary; refused: its words, and the question again."""
        sizing, done = self.state.sizing, self.state.done
        if "error" in payload:
            error = payload["error"]
            sizing.unit_column = None
            step = Step.BASELINE if Step.BASELINE not in done else Step.STD_DEV
            self.state.pending = step
            return self._say(f"{error['message']} {error['hint']}\n\n" + self._question(step), on_text)
        sizing.baseline = float(payload["baseline"])
        sizing.baseline_said = None
        done.add(Step.BASELINE)
        if sizing.metric == "mean":
            sizing.std_dev = float(payload["std_dev"])
            done.add(Step.STD_DEV)
        notes = "".join(f"\n- {w}" for w in payload.get("warnings", [])[:2])
        unit = sizing.unit_column
        if unit is not None and payload.get("rows_per_unit") is not None and self._measured_cluster(payload):
            found = self._unit_column(str(payload.get("dataset") or ""), str(payload.get("metric") or ""))
            per = found.one if found is not None and found.column == unit else f"'{unit}'"
            notes += (
                f"\n\nPer {per} (the unit the experiment assigns, '{unit}'): the rows per '{unit}' and the ICC "
                f"measured here go into the sample size (its design effect), which then counts rows grouped by "
                f"'{unit}'."
            )
        else:
            sizing.unit_column = None
        return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")

    def _after_cluster_history(self, payload: Mapping[str, Any], on_text: Callable[[str], None]) -> AssistantTurn:
        """The history measured per cluster: its units per cluster and ICC (as the tool hands them to power) are
        the sizing's, said by the tool's summary; the baseline and the lift stay the user's. Refused, or no ICC
        measured: the tool's words, and the cluster question again."""
        self.state.pending = Step.CLUSTER
        if "error" in payload:
            error = payload["error"]
            return self._say(f"{error['message']} {error['hint']}\n\n" + self._question(Step.CLUSTER), on_text)
        if not self._measured_cluster(payload):
            lead = "The history gave no ICC to size with: give the two figures, or say 'skip'."
            return self._say(
                payload.get("summary", "") + "\n\n" + lead + "\n\n" + self._question(Step.CLUSTER), on_text
            )
        notes = "".join(f"\n- {w}" for w in payload.get("warnings", [])[:2])
        kept = "Sizing with the units per cluster and the ICC measured there; the baseline and the lift stay yours."
        return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n" + kept + "\n\n")

    def _measured_cluster(self, payload: Mapping[str, Any]) -> bool:
        """Take a per-cluster history's units per cluster and ICC for the sizing (the figures its power request
        carries: the ICC kept below one); False when it measured none."""
        figures = payload.get("power_request") or {}
        size, icc = figures.get("cluster_size"), figures.get("icc")
        if not isinstance(size, int | float) or not isinstance(icc, int | float):
            return False
        sizing = self.state.sizing
        sizing.cluster_size, sizing.icc = float(size), float(icc)
        sizing.cluster_size_said = sizing.icc_said = None
        self.state.unsure.pop(Step.CLUSTER, None)
        self.state.done.add(Step.CLUSTER)
        return True

    def _after_check(self, payload: Mapping[str, Any], on_text: Callable[[str], None]) -> AssistantTurn:
        """The A/A check ran: its summary and what it found, then the sizing; refused: the tool's words and the
        offer again."""
        state = self.state
        state.check_wanted = False
        if "error" in payload:
            error = payload["error"]
            state.done -= {Step.AA_OFFER, Step.AA}
            state.pending = Step.AA_OFFER
            return self._say(f"{error['message']} {error['hint']}\n\n" + self._question(Step.AA_OFFER), on_text)
        state.done |= {Step.AA_OFFER, Step.AA}
        state.check_unit = payload.get("repeated_unit") or payload.get("cluster_column") or None
        notes = "".join(f"\n- {r}" for r in payload.get("reasons", [])[:3])
        return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")

    def _after_follow_up(self, payload: Mapping[str, Any], on_text: Callable[[str], None]) -> AssistantTurn:
        """The follow-up ran: its summary and first caveats, then the closing; refused (a column it cannot use):
        what is wrong, and the offer again with the roles as they were."""
        state = self.state
        state.analysis.follow_wanted = False
        if "error" in payload:
            error = payload["error"]
            state.done -= {Step.WHOM_OFFER, Step.WHOM}
            state.pending = Step.WHOM_OFFER
            return self._say(f"{error['message']} {error['hint']}\n\n" + self._question(Step.WHOM_OFFER), on_text)
        state.done |= {Step.WHOM_OFFER, Step.WHOM}
        notes = "".join(f"\n- {w}" for w in payload.get("warnings", [])[:5])
        return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")
