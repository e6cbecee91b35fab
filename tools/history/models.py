"""Request and result models of the metric_history tool."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tools.results import Check, ToolRequest, ToolResult

__all__ = ["MetricHistoryRequest", "MetricHistoryResult"]


class MetricHistoryRequest(ToolRequest):
    """Measure what power needs on past data instead of guessing: the metric's baseline (rate or mean), its standard
    deviation, the ICC when rows (sessions) are finer than the unit an experiment assigns, and the variance a
    pre-period covariate removes (CUPED). Runs inside the engine for a table. Never compute these numbers yourself."""

    dataset: str = Field(min_length=1, description="Attached dataset of past rows (a file or an engine table).")
    metric: str = Field(min_length=1, description="The metric's column.")
    kind: Literal["binary", "continuous"] = Field(default="continuous", description="binary (0/1) or continuous.")
    unit_column: str | None = Field(default=None, description="The unit an experiment assigns, if rows are finer.")
    covariate_column: str | None = Field(default=None, description="A pre-period value of the metric, for CUPED.")


class MetricHistoryResult(ToolResult):
    """The answer of the metric_history tool."""

    dataset: str = Field(description="The dataset measured.")
    metric: str = Field(description="The metric's column.")
    kind: Literal["binary", "continuous"] = Field(description="The metric's kind.")
    n_rows: int = Field(description="Rows with the metric (and the covariate) present.")
    baseline: float = Field(description="Mean per row (a binary metric's rate).")
    std_dev: float = Field(description="Standard deviation per row (n - 1).")
    n_units: int | None = Field(description="Distinct units (with unit_column), else null.")
    rows_per_unit: float | None = Field(description="Mean rows per unit (with unit_column), else null.")
    icc: float | None = Field(
        description="Intra-class correlation of the metric within units (one-way ANOVA estimator, unequal sizes; "
        "floored at 0), else null."
    )
    design_effect: float | None = Field(description="1 + (rows per unit - 1) x ICC: variance inflation, else null.")
    variance_reduction: float | None = Field(
        description="Share of variance the covariate removes under CUPED (squared correlation), else null."
    )
    power_request: dict[str, Any] = Field(description="The power request these figures give (fill mde in).")
    engine: bool = Field(description="Whether the figures were computed inside the engine.")
    checks: list[Check] = Field(description="What was measured and what to watch.")
    warnings: list[str] = Field(description="Caveats.")
    summary: str = Field(description="One sentence with the figures.")
