"""What power needs, measured on past data: the metric_history tool (baseline, standard deviation, the ICC when rows
are finer than the randomised unit, CUPED's variance reduction), in memory or inside the engine."""

from tools.history.models import MetricHistoryRequest, MetricHistoryResult

__all__ = ["MetricHistoryRequest", "MetricHistoryResult"]
