"""Result pieces shared by every tool: the base models, ``Estimate`` and ``Check``."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.errors import ToolError
from tools.literals import Status

__all__ = [
    "NUMERICAL_ZERO",
    "Check",
    "CheckStatus",
    "Estimate",
    "ToolRequest",
    "ToolResult",
    "label_of_number",
    "require_inference",
    "zero_error",
]

#: A standard error at or below this fraction of the estimate's magnitude (or of the data's) is rounding error, not
#: sampling error: a fit that reproduces the data exactly (as many parameters as units or clusters, a perfect
#: outcome model, an outcome without residual variance) leaves residuals of about 1e-16 times the data, while real
#: noise gives a standard error of at least sd / sqrt(n), many orders of magnitude above 1e-10 for any realistic n.
NUMERICAL_ZERO = 1e-10

#: The old name of :data:`tools.literals.Status`, kept for existing imports.
CheckStatus = Status


class ToolRequest(BaseModel):
    """Base of every tool request: strict, frozen, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ToolResult(BaseModel):
    """Base of every tool result: frozen, no unknown fields, serialisable to JSON byte for byte.

    ``allow_inf_nan=False`` is a safety net: a result that would carry NaN or infinity cannot be
    constructed, so a number computed from garbage never reaches a user.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: The figure this result draws: a key of the drawers in ``assistant`` (``figures.py`` for PNG files,
    #: ``tui/widgets/plot.py`` in the app), or None. A drawer skips a result whose data for it are empty.
    figure: ClassVar[str | None] = None
    #: Fields that exist only to draw that figure: left out of what the model reads when the result is long.
    plot_fields: ClassVar[tuple[str, ...]] = ()
    #: Fields kept readable for existing callers that repeat another field (``att`` beside ``effect``): the model
    #: is shown the unified field only.
    legacy_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_fields(cls, data: Any) -> Any:
        """A dump carries each legacy field beside the field it repeats (``att`` beside ``effect``): drop the copy,
        so that ``Model.model_validate(result.model_dump(mode="json"))`` gives the result back."""
        if cls.legacy_fields and isinstance(data, dict):
            return {key: value for key, value in data.items() if key not in cls.legacy_fields}
        return data


class Check(ToolResult):
    """A diagnostic, or an identifying assumption with the evidence for it."""

    name: str = Field(description="Short name of the check, e.g. 'full_week'.")
    status: Status = Field(
        description="pass, warn, fail, or not_tested (an assumption the data cannot test; the detail names "
        "the sensitivity analysis that speaks to it)."
    )
    detail: str = Field(description="What was checked and what was found, with the numbers.")


def zero_error(std_error: float, *scales: float) -> bool:
    """True when ``std_error`` cannot carry inference: not finite, zero, or numerically zero (at most
    :data:`NUMERICAL_ZERO` times the largest of ``scales``: pass the estimate and the data's magnitude, e.g. the
    outcome's largest absolute value, so rounding noise around a tiny estimate is caught too)."""
    if not math.isfinite(std_error):
        return True
    return std_error <= NUMERICAL_ZERO * max((abs(s) for s in scales if math.isfinite(s)), default=0.0)


def require_inference(
    std_error: float, *scales: float, what: str, reason: str, hint: str, code: str = "degenerate_fit"
) -> None:
    """Refuse inference on a zero standard error with a ``ToolError`` saying why, before a result is built.

    A zero standard error is never a finding: its interval has no width and its p-value is 0, which reads as
    certainty although the data cannot measure the uncertainty at all. The estimators refuse (rather than report a
    point estimate without an interval) so that no surface, summary or refute check ever shows such a number;
    ``reason`` names the cause in the design's terms (too few units or clusters, a perfect fit, no residual
    variance) and ``hint`` the fix.
    """
    if zero_error(std_error, *scales):
        raise ToolError(
            code,
            f"The standard error of {what} is zero ({reason}), so there is no confidence interval or p-value to "
            "report.",
            hint,
        )


class Estimate(ToolResult):
    """A point estimate with its standard error, confidence interval and p-value."""

    estimate: float = Field(description="The point estimate.")
    std_error: float = Field(description="Standard error of the estimate.", ge=0)
    ci_lower: float = Field(description="Lower bound of the (1 - alpha) confidence interval.")
    ci_upper: float = Field(description="Upper bound of the (1 - alpha) confidence interval.")
    p_value: float = Field(description="p-value of the test of no effect.", ge=0, le=1)
    alpha: float = Field(default=0.05, description="Significance level; the interval covers 1 - alpha.")

    @classmethod
    def normal(cls, estimate: float, std_error: float, alpha: float = 0.05) -> Estimate:
        """An estimate with a normal-approximation interval and two-sided p-value (p = 1 at a zero estimate with
        no error, such as a reference period fixed at 0; a non-zero estimate with no error is refused)."""
        from scipy import special  # here, not at the top: listing tools and building schemas stays light

        z = float(special.ndtri(1 - alpha / 2))
        if std_error > 0:
            p_value = min(1.0, float(2 * special.ndtr(-abs(estimate) / std_error)))
        else:
            p_value = 1.0 if estimate == 0 else 0.0
        return cls(
            estimate=estimate,
            std_error=std_error,
            ci_lower=estimate - z * std_error,
            ci_upper=estimate + z * std_error,
            p_value=p_value,
            alpha=alpha,
        )

    @model_validator(mode="after")
    def _ordered(self) -> Estimate:
        if self.ci_lower > self.ci_upper:
            raise ValueError("ci_lower must not exceed ci_upper")
        if self.estimate != 0 and zero_error(self.std_error, self.estimate):
            # The safety net for every estimator, present and future: dispatch reports it as a numerical_failure.
            # A zero estimate with no error stays valid (a normalised reference period, fixed at 0 with p = 1).
            raise ValueError(
                "the standard error is zero (a fit that reproduces the data exactly: too few units or clusters, a "
                "perfect fit or no residual variance), so the estimate has no interval or p-value"
            )
        return self


def label_of_number(value: Any) -> Any:
    """A label given as a number (``0`` from a notebook or ``/run`` JSON) as its text, '0' (a pydantic "before"
    validator for arm and treatment labels). The tools match labels by value, so it names the value 0 of a 0/1
    column however the column was stored (0, 0.0, '0')."""
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return value
