"""The ab_test tool, as registered: analysing a randomized experiment (arms, metrics, guardrails)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.literals import Direction
from tools.spec import Battery, Guide, ToolSpec, as_list, number

__all__ = ["SPEC", "guardrail_direction", "guardrail_metric", "metric_kind"]

#: Metrics whose rise is harm (MetricSpec's ``direction="decrease"``): latency and load times, errors and crashes,
#: refunds, returns, complaints and support tickets, churn, cancellations and unsubscribes, bounces, costs.
_LOWER_IS_BETTER = re.compile(
    r"latenc|\bload|\bms\b|millisecond|\bwait|delay|\berror|crash|\bfail|refund|\breturns\b|complain|ticket|"
    r"churn|cancel|unsubscri|bounce|abandon|\bcosts?\b|expense|timeout|\bslow",
    re.I,
)


#: A quantile said as a metric's kind: "p95", "P99.9", "p50", "median".
_QUANTILE_KIND = re.compile(r"p(\d{1,2}(?:\.\d+)?)|median", re.I)


def metric_kind(kind: str | None) -> dict[str, Any]:
    """A metric's kind as the guided mode's words say it: "binary" (any word starting with b), "p95" or "median"
    (a quantile metric: ``{"kind": "quantile", "quantile": 0.95}``), else continuous."""
    text = str(kind or "continuous").strip().lower()
    said = _QUANTILE_KIND.fullmatch(text)
    if said is not None:
        q = 0.5 if said.group(1) is None else round(float(said.group(1)) / 100, 6)
        if 0 < q < 1:
            return {"kind": "quantile", "quantile": q}
    return {"kind": "binary" if text.startswith("b") else "continuous"}


def guardrail_direction(*names: str) -> Direction:
    """Which change of a guardrail is good, from its name (the brief's words, its column): "decrease" for harm
    that rises (page load time, errors, refunds, churn, cost), else "increase". A guess the guided mode states in
    its proposal, so the user can correct it."""
    words = [name.replace("_", " ") for name in names]  # page_load_ms: the words page, load, ms
    return "decrease" if any(_LOWER_IS_BETTER.search(word) for word in words) else "increase"


def guardrail_metric(item: Any) -> dict[str, Any]:
    """A guardrail role's item (a column name, or ``{"column", "direction", "kind"}``; kind "p95": the 0.95
    quantile, :func:`metric_kind`) as a guardrail MetricSpec: no non-inferiority margin (the tool's default: any
    significant harm breaches it)."""
    if isinstance(item, Mapping):
        column = str(item.get("column") or item.get("name") or "")
        direction = item.get("direction") or guardrail_direction(column)
        kind = str(item.get("kind") or "continuous").lower()
    else:
        column, direction, kind = str(item), guardrail_direction(str(item)), "continuous"
    return {
        "name": column,
        **metric_kind(kind),
        "role": "guardrail",
        "direction": "decrease" if direction == "decrease" else "increase",
    }


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The ab_test request for the guided mode's roles: arm, metric (its kind; one covariate: CUPED, several: Lin's
    regression adjustment), the strata of a blocked design, the guardrails
    (each with its kind and which change is good), cluster, the control arm's label as the user typed it, and the
    planned split (``label:share`` items; none: equal shares assumed)."""
    metric: dict[str, Any] = {"name": roles["metric"], **metric_kind(roles.get("kind"))}
    covariates = list(dict.fromkeys(as_list(roles["covariate"]))) if roles.get("covariate") else []
    if len(covariates) == 1:
        metric["covariate_column"] = covariates[0]
    elif covariates:  # several: Lin's regression adjustment (a binary metric: logistic standardisation)
        metric["covariates"] = covariates
    metrics = [metric]
    for item in roles.get("guardrails") or []:
        guardrail = guardrail_metric(item)
        if guardrail["name"] and all(guardrail["name"] != m["name"] for m in metrics):
            metrics.append(guardrail)
    request: dict[str, Any] = {"dataset": dataset, "arm_column": roles["arm"], "metrics": metrics}
    if roles.get("cluster"):
        request["cluster_column"] = roles["cluster"]
    if roles.get("strata"):
        request["strata_column"] = roles["strata"]
    if roles.get("control"):
        request["control"] = str(roles["control"])
    split = planned_split(roles.get("split"))
    if split:
        request["expected_split"] = split
    return request


def planned_split(value: Any) -> list[dict[str, Any]]:
    """``["0:260", "1:185"]`` (or ``"0:260, 1:185"``; counts or shares) as expected_split items with shares
    summing to 1; malformed items are left out, and fewer than two leave the split unset."""
    items: list[tuple[str, float]] = []
    for item in as_list(value) if value else []:
        label, _, share = item.rpartition(":")
        try:
            items.append((label.strip(), number(share, "share")))
        except ValueError:
            continue
    if len(items) < 2 or not all(label and share > 0 for label, share in items):
        return []
    total = sum(share for _, share in items)  # counts (2,222 : 679) as shares within the request's bounds
    return [{"arm": label, "share": share / total} for label, share in items]


SPEC = ToolSpec(
    name="ab_test",
    request=AbTestRequest,
    result=AbTestResult,
    implementation="tools.ab_test.tool:ab_test",
    takes_dataset=True,
    designs=("ab_test", "cluster_ab_test"),
    offer="always",
    guide=Guide(
        required=("arm", "metric"),
        optional=("kind", "covariate", "guardrails", "cluster", "strata", "control", "split"),
        dataset_words=("experiment", "ab", "checkout", "test", "exp"),
        question="Which column holds each unit's arm (control or treatment), and which holds the primary metric? "
        "Say 'kind=binary' for a 0/1 metric (converted or not) or 'kind=continuous' (revenue, minutes); "
        "pre-period columns as 'covariate' (one or a comma list) sharpen the estimate; a blocked design's "
        "stratum column as 'strata'; if rows are finer than the "
        "randomized unit (sessions of users, or members of randomized teams), name the unit's column as 'cluster'. "
        "Guardrails are metrics that must not get worse ('guardrails=a, b', each followed by '(better if lower)' or "
        "'(better if higher)', and '(p95, better if lower)' to compare a percentile; 'no guardrails' for none). "
        "Name the control arm's label as 'control' if it is not "
        "0, control, A or baseline.",
        build=guided_request,
        words={"arm": ("treat", "arm", "variant", "group", "bucket", "assigned", "assignment", "incentive")},
        lists=("guardrails", "covariate", "split"),
        values=("kind", "control", "split"),
        experiment=True,
    ),
    battery=Battery(
        auto=("sample_ratio", "covariate_balance", "placebo_treatment", "bootstrap"),
        more=("data_subset", "dummy_outcome"),
        design="tools.refute.designs.ab_test:AbTestDesign",
    ),
    plans=True,
)
