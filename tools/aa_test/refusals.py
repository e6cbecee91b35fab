"""The MetricSpec fields ab_test reads and aa_test does not: refused by name, before any work."""

from __future__ import annotations

from tools.aa_test.models import AaTestRequest
from tools.data.names import display_name
from tools.errors import ToolError

__all__ = ["refuse_unused_fields"]


def refuse_unused_fields(request: AaTestRequest) -> None:
    """aa_test re-runs ab_test's plain analysis (with CUPED on ``covariate_column``): Lin's ``covariates``, ratio
    CUPED's ``covariate_denominator_column`` and quantile metrics are not simulated, so a request naming them is
    refused rather than checked with another analysis than the one asked for."""
    for spec in request.metrics:
        name = display_name(spec.name)
        if spec.kind == "quantile":
            raise ToolError(
                "unsupported_metric",
                f"Metric '{name}': aa_test does not check quantile metrics (kind 'quantile').",
                "Check the metric's mean (kind 'continuous'), or run ab_test on an A/A split for the quantile.",
            )
        if spec.covariates:
            raise ToolError(
                "unsupported_metric",
                f"Metric '{name}': aa_test does not simulate the covariate adjustment (covariates).",
                "Drop covariates; give one pre-period column as covariate_column (CUPED) to check that.",
            )
        if spec.covariate_denominator_column is not None:
            raise ToolError(
                "unsupported_metric",
                f"Metric '{name}': aa_test does not simulate ratio CUPED (covariate_denominator_column).",
                "Drop covariate_denominator_column (and covariate_column) to check the plain ratio.",
            )
