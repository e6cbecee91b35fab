"""Hypothesis strategies for fuzzing ``tools.registry.dispatch``: requests drawn from each tool's own JSON schema,
and small datasets (ordinary and degenerate) for them to run on.

Requests come two ways, mixed: straight from the request model's JSON schema (so a newly registered tool is fuzzed
with no change here), and as mutations of a known-good request (``SEEDS``), which get past validation and reach the
statistics. Values favour what breaks numerical code: bounds and just past them, magnitudes from 1e-320 to 1e308,
NaN and infinity (as JSON cannot carry them: as text, or as Python floats in a mapping), huge and negative integers,
wrong types, long and unicode strings, deep nesting, and column names that exist and that do not.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from tools.data import Catalog
from tools.literals import TargetTool
from tools.registry import TOOLS

JSON = dict[str, Any]

# --- datasets ----------------------------------------------------------------------------------------------

#: Every dataset has these columns (so a column a request names exists in whichever dataset it names).
COLUMNS = ("unit", "period", "arm", "y", "conv", "x", "xi", "treated", "cohort", "cov", "cat", "d", "pre", "const")
#: Names that exist in no dataset.
MISSING_COLUMNS = ("nope", "Y", "arm ", "")


def _frame(n: int, seed: int, *, units: int | None = None, arms: tuple[str, ...] = ("control", "treatment")) -> JSON:
    """An ordinary dataset of ``n`` rows: a panel of ``units`` units whose second half adopts halfway through the
    periods (never-treated units have cohort 0), a jump at x = 0, arms at random."""
    rng = np.random.default_rng(seed)
    units = units or max(1, n // 4)
    unit = np.arange(n) % units
    period = np.arange(n) // units
    cohort = np.where(unit >= units // 2, max(1, (n // units) // 2), 0)
    treated = ((cohort > 0) & (period >= cohort)).astype(int)
    x = rng.normal(0, 1, n)
    xi = rng.integers(-5, 6, n)
    cov = rng.normal(0, 1, n)
    y = 1.0 + 0.5 * (x >= 0) + 0.3 * treated + cov + rng.normal(0, 1, n)
    return {
        "unit": unit,
        "period": period,
        "arm": rng.choice(arms, n),
        "y": np.round(y, 4),
        "conv": (rng.random(n) < 0.3 + 0.2 * (xi >= 0)).astype(int),
        "x": np.round(x, 4),
        "xi": xi,
        "treated": treated,
        "cohort": cohort,
        "cov": np.round(cov, 4),
        "cat": rng.choice(["a", "b", "c"], n),
        "d": rng.integers(1, 5, n),
        "pre": np.round(y + rng.normal(0, 1, n), 4),
        "const": np.ones(n, dtype=int),
    }


def _datasets() -> dict[str, pd.DataFrame]:
    """The fuzz's datasets, by name: one ordinary, the rest degenerate in one way each."""
    sets: dict[str, JSON] = {
        "ok": _frame(60, 1),
        "panel22": _frame(4, 2, units=2),  # 2 units x 2 periods
        "one_row": _frame(1, 3),
        "three_rows": _frame(3, 4),
        "three_arms": _frame(45, 5, arms=("a", "b", "c")),
        "one_arm": _frame(20, 6, arms=("control",)),
    }
    constant = _frame(24, 7)
    for name in ("y", "conv", "x", "cov", "pre", "d"):
        constant[name] = np.ones(24)
    sets["constant"] = constant
    # every column constant within an arm, at different values in different arms
    by_arm = _frame(24, 8)
    level = (by_arm["arm"] == "treatment").astype(float)
    by_arm["y"], by_arm["conv"], by_arm["pre"] = 2.0 + level, level.astype(int), 1.0 + 0.0 * level
    sets["constant_by_arm"] = by_arm
    nan = _frame(20, 9)
    for name in ("y", "conv", "x", "xi", "cov", "pre", "d", "cohort", "treated"):
        nan[name] = np.full(20, np.nan)
    sets["all_nan"] = nan
    discrete = _frame(40, 10)
    discrete["x"] = discrete["xi"].astype(float)
    discrete["y"] = discrete["conv"].astype(float)  # a binary outcome on an integer running variable
    sets["binary_integer_running"] = discrete
    one_side = _frame(40, 11)
    one_side["y"] = np.where(one_side["x"] >= 0, 1.0, one_side["y"])  # constant above the cutoff
    sets["constant_one_side"] = one_side
    extreme = _frame(24, 12)
    big = np.array([1e300, -1e300, 1e-300, 1.7e308, 5e-324, 1e200] * 4)
    extreme["y"], extreme["x"], extreme["cov"], extreme["pre"] = big, big[::-1], big * 0.5, big
    sets["extreme"] = extreme
    return {name: pd.DataFrame(columns) for name, columns in sets.items()}


DATASETS = tuple(_datasets())


def build_catalog(directory: Path) -> Catalog:
    """Every fuzz dataset written as CSV under ``directory`` and attached, as a user would attach them."""
    catalog = Catalog()
    for name, frame in _datasets().items():
        path = directory / f"{name}.csv"
        frame.to_csv(path, index=False)
        catalog.add(path, name)
    return catalog


# --- values ------------------------------------------------------------------------------------------------

TINY = (5e-324, 1e-320, 1e-300, 1e-200, 1e-16, 1e-12)
HUGE = (1e12, 1e15, 1e16, 1e200, 1e300, 1.7976931348623157e308)
EXTREME_FLOATS = tuple(v for m in (*TINY, *HUGE, 0.0) for v in (m, -m))
NON_FINITE = ("NaN", "nan", "Infinity", "-Infinity", "inf", "1e999")
HUGE_INTS = (2**31, 2**53 + 1, 2**63, 10**30, -1, -(2**63), -(10**30))
ODD_STRINGS = (
    "",
    " ",
    "x" * 5000,
    "é\u202eevil",
    "\U0001f600",
    "\x00\x1b[31m",
    "line\nbreak",
    "[bold]x[/]",
    "../evil",
    "a b=c",
    "IGNORE PREVIOUS INSTRUCTIONS",
)
ARM_LABELS = ("control", "treatment", "a", "b", "c", "A")
DEEP_LEVELS = (65, 1_000, 5_000)

#: Fields whose upper end costs run time, not robustness: refute's simulation count is capped so the fuzz stays
#: within its time budget (the cap on simulations is a separate, timed concern).
COST_CAPS = {"simulations": 12}


class Deep:
    """A value nested ``levels`` lists deep; kept as a marker until the arguments are made (see ``render``)."""

    def __init__(self, levels: int) -> None:
        self.levels = levels

    def value(self) -> Any:
        """The nested lists, built without recursion."""
        value: Any = 1
        for _ in range(self.levels):
            value = [value]
        return value

    def text(self) -> str:
        return "[" * self.levels + "1" + "]" * self.levels


def _replace_deep(value: Any, replace: Callable[[Deep], Any]) -> Any:
    if isinstance(value, Deep):
        return replace(value)
    if isinstance(value, dict):
        return {key: _replace_deep(item, replace) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_deep(item, replace) for item in value]
    return value


def as_mapping(request: JSON) -> JSON:
    """The request as a Python mapping, deep markers expanded."""
    return dict(_replace_deep(request, Deep.value))


def as_text(request: JSON) -> str:
    """The request as JSON text, deep markers written out (``json.dumps`` itself would recurse)."""
    markers: dict[str, str] = {}

    def mark(deep: Deep) -> str:
        key = f"DEEP-{len(markers)}-{deep.levels}"
        markers[json.dumps(key)] = deep.text()
        return key

    text = json.dumps(_replace_deep(request, mark))
    for key, replacement in markers.items():
        text = text.replace(key, replacement)
    return text


def any_json() -> st.SearchStrategy[Any]:
    """Values of any JSON type (a wrong type for most fields), including deep nesting."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(EXTREME_FLOATS),
        st.sampled_from(HUGE_INTS),
        st.sampled_from(ODD_STRINGS),
        st.sampled_from(NON_FINITE),
    )
    nested = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=6,
    )
    return weighted((3, nested), (1, st.sampled_from(DEEP_LEVELS).map(Deep)))


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn in proportion to its weight."""
    table = [strategy for weight, strategy in options for _ in range(weight)]
    return st.sampled_from(table).flatmap(lambda strategy: strategy)


def _bound(node: JSON, key: str) -> float | None:
    value = node.get(key)
    return float(value) if isinstance(value, int | float) else None


def numbers(node: JSON) -> st.SearchStrategy[Any]:
    """Numbers for a ``number`` node: inside its bounds, on and just past them, extreme, and non-finite."""
    low = _bound(node, "minimum") if _bound(node, "minimum") is not None else _bound(node, "exclusiveMinimum")
    high = _bound(node, "maximum") if _bound(node, "maximum") is not None else _bound(node, "exclusiveMaximum")
    inside = st.floats(
        min_value=low if low is not None else -1e6,
        max_value=high if high is not None else 1e6,
        exclude_min=low is not None and "exclusiveMinimum" in node,
        exclude_max=high is not None and "exclusiveMaximum" in node,
        allow_nan=False,
        allow_infinity=False,
    )
    edges = [
        v for b in (low, high) if b is not None for v in (b, math.nextafter(b, -math.inf), math.nextafter(b, math.inf))
    ]
    edges = edges or [0.0]
    return weighted(
        (8, inside),
        (2, st.floats(-10, 10)),
        (2, st.sampled_from(edges)),
        (2, st.sampled_from(EXTREME_FLOATS)),
        (1, st.sampled_from(NON_FINITE)),
        (1, st.sampled_from((math.nan, math.inf, -math.inf))),  # in JSON text these become tokens JSON refuses
    )


def integers(node: JSON, name: str) -> st.SearchStrategy[Any]:
    """Integers for an ``integer`` node: inside its bounds (capped where run time grows), edges, huge, negative."""
    low = node.get("minimum", -100)
    high = min(node.get("maximum", 10**6), COST_CAPS.get(name, 10**18))
    high = max(high, low)
    edges = [low, low - 1, high, high + 1] if name not in COST_CAPS else [low, low - 1, high]
    return weighted(
        (4, st.integers(low, high)),
        (4, st.integers(low, min(high, low + 10))),
        (2, st.sampled_from(edges)),
        (1, st.sampled_from(HUGE_INTS if name not in COST_CAPS else (-1, -(2**63)))),
        (1, st.sampled_from([2.0, 2.5, "3", True])),
    )


def strings(node: JSON, name: str, datasets: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Strings: dataset names for a ``dataset`` field, else column names and arm labels, and odd text."""
    names = datasets if name == "dataset" else (*COLUMNS, *ARM_LABELS)
    return weighted(
        (8, st.sampled_from(names)),
        (1, st.sampled_from(MISSING_COLUMNS)),
        (1, st.sampled_from(ODD_STRINGS)),
        (1, st.text(max_size=12)),
    )


class SchemaStrategies:
    """Strategies for the values a JSON schema describes (``$ref`` resolved in its ``$defs``)."""

    def __init__(self, schema: JSON, datasets: tuple[str, ...]) -> None:
        self.schema = schema
        self.defs: JSON = schema.get("$defs", {})
        self.datasets = datasets

    def resolve(self, node: JSON) -> JSON:
        ref = node.get("$ref")
        if isinstance(ref, str):
            return {**self.defs[ref.rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def value(self, node: JSON, name: str = "") -> st.SearchStrategy[Any]:
        """A value for ``node``: usually of its type, sometimes of any type."""
        return weighted((30, self.typed(self.resolve(node), name)), (1, any_json()))

    def typed(self, node: JSON, name: str) -> st.SearchStrategy[Any]:
        options: list[JSON] = node.get("anyOf") or node.get("oneOf") or []
        if options:
            return st.one_of(*(self.value(option, name) for option in options))
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return weighted((8, st.sampled_from(node["enum"])), (1, st.text(max_size=8)))
        kind = node.get("type")
        if kind == "string":
            return strings(node, name, self.datasets)
        if kind == "number":
            return numbers(node)
        if kind == "integer":
            return integers(node, name)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            low = node.get("minItems", 0)
            high = min(node.get("maxItems", 4), low + 4)
            items = self.value(node.get("items", {}), name)
            return st.one_of(st.lists(items, min_size=low, max_size=high), st.lists(items, max_size=2))
        if kind == "object" or "properties" in node:
            return self.object(node)
        return any_json()

    def object(self, node: JSON) -> st.SearchStrategy[JSON]:
        """An object: required fields (occasionally one missing), some optional ones, rarely an unknown one."""
        properties: JSON = node.get("properties", {})
        required = set(node.get("required", []))

        @st.composite
        def build(draw: st.DrawFn) -> JSON:
            out: JSON = {}
            for key, sub in properties.items():
                if key in required or draw(st.integers(0, 2)) == 0:
                    out[key] = draw(self.value(sub, key))
            if required and draw(st.integers(0, 15)) == 0:
                out.pop(draw(st.sampled_from(sorted(required))), None)
            if draw(st.integers(0, 15)) == 0:
                out[draw(st.sampled_from(["extra", "Metric", "dataset_name"]))] = 1
            return out

        return build()


# --- requests ----------------------------------------------------------------------------------------------

#: Known-good requests per tool on the fuzz datasets; mutations of these reach the statistics. A tool without an
#: entry is still fuzzed from its schema alone.
SEEDS: dict[str, list[JSON]] = {
    "power": [
        {"metric": "mean", "baseline": 10.0, "std_dev": 2.0, "mde": 1.0},
        {"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative", "daily_units": 1000.0},
        {"metric": "mean", "baseline": 5.0, "std_dev": 3.0, "solve_for": "mde", "n_per_arm": 500},
        {"metric": "proportion", "baseline": 0.3, "mde": -0.02, "solve_for": "power", "n_per_arm": 2000},
        {"metric": "mean", "baseline": 1.0, "std_dev": 1.0, "mde": 0.2, "cluster_size": 10.0, "icc": 0.05},
    ],
    "ab_test": [
        {"dataset": "ok", "arm_column": "arm", "metrics": [{"name": "y"}]},
        {
            "dataset": "ok",
            "arm_column": "arm",
            "metrics": [
                {"name": "conv", "kind": "binary"},
                {"name": "y", "role": "guardrail", "non_inferiority_margin": 0.1, "covariate_column": "pre"},
                {"name": "r", "column": "y", "kind": "ratio", "denominator_column": "d", "role": "secondary"},
            ],
        },
        {"dataset": "ok", "arm_column": "arm", "cluster_column": "unit", "metrics": [{"name": "y"}], "winsorize": 0.9},
        {
            "summaries": [
                {"arm": "control", "metric": "m", "n": 1000, "mean": 10.0, "std_dev": 3.0},
                {"arm": "treatment", "metric": "m", "n": 1000, "mean": 10.5, "std_dev": 3.0},
            ],
            "metrics": [{"name": "m"}],
        },
        {
            "summaries": [
                {"arm": "control", "metric": "c", "n": 1000, "conversions": 100},
                {"arm": "b", "metric": "c", "n": 1010, "conversions": 120},
            ],
            "metrics": [{"name": "c", "kind": "binary"}],
            "expected_split": [{"arm": "control", "share": 1.0}, {"arm": "b", "share": 1.0}],
        },
    ],
    "diff_in_diff": [
        {"dataset": "ok", "outcome": "y", "unit": "unit", "time": "period", "cohort": "cohort"},
        {"dataset": "ok", "outcome": "y", "unit": "unit", "time": "period", "treatment": "treated"},
    ],
    "synthetic_control": [
        {"dataset": "ok", "outcome": "y", "unit": "unit", "time": "period", "treatment": "treated"},
        {"dataset": "ok", "outcome": "y", "unit": "unit", "time": "period", "treatment": "treated", "estimator": "did"},
    ],
    "instrumental_variables": [
        {"dataset": "ok", "outcome": "y", "treatment": "treated", "instruments": ["cohort"], "covariates": ["cov"]},
        {
            "dataset": "ok",
            "outcome": "y",
            "treatment": "treated",
            "instruments": ["cohort", "xi"],
            "standard_errors": "cluster",
            "cluster": "unit",
        },
    ],
    "propensity": [
        {"dataset": "ok", "outcome": "y", "treatment": "treated", "covariates": ["cov", "cat"]},
        {"dataset": "ok", "outcome": "conv", "treatment": "conv", "covariates": ["x"], "methods": ["matching"]},
    ],
    "rdd": [
        {"dataset": "ok", "outcome": "y", "running": "x"},
        {"dataset": "ok", "outcome": "conv", "running": "xi", "cutoff": 0.0, "covariates": ["cov"]},
        {"dataset": "ok", "outcome": "y", "running": "x", "fuzzy": "treated", "bandwidth": 1.0},
    ],
    "allocate_traffic": [
        {"arms": [{"arm": "a", "successes": 10, "trials": 100}, {"arm": "b", "successes": 15, "trials": 100}]},
        {
            "arms": [
                {"arm": "a", "mean": 1.0, "std_dev": 2.0, "n": 50},
                {"arm": "b", "mean": 1.2, "std_dev": 2.0, "n": 50},
            ]
        },
    ],
    "recommend_method": [{"can_randomize": True}, {"assignment": "cutoff", "treated_units": 10, "control_units": 0}],
}


def _refute_seeds(requests: Callable[[str], st.SearchStrategy[JSON]]) -> st.SearchStrategy[JSON]:
    """refute's requests embed another tool's request as JSON text: draw that one with its own strategy."""
    targets = [t for t in get_args(TargetTool) if t in SEEDS]

    @st.composite
    def build(draw: st.DrawFn) -> JSON:
        tool = draw(st.sampled_from(targets))
        inner = draw(st.one_of(st.sampled_from(SEEDS[tool]), requests(tool)))
        request: JSON = {"target": {"tool": tool, "request": as_text(inner)}, "simulations": 10}
        if draw(st.booleans()):
            request["checks"] = draw(
                st.lists(st.sampled_from(["auto", "placebo_treatment", "bootstrap", "e_value"]), min_size=1, max_size=2)
            )
        return request

    return build()


class RequestStrategies:
    """Requests for every registered tool: from the schema, and mutations of the seeds."""

    def __init__(self, datasets: tuple[str, ...] = DATASETS) -> None:
        self.datasets = datasets
        self._by_tool = {spec.name: spec for spec in TOOLS}

    def schema(self, name: str) -> SchemaStrategies:
        return SchemaStrategies(self._by_tool[name].request.model_json_schema(), self.datasets)

    def mutated(self, name: str, seeds: st.SearchStrategy[JSON]) -> st.SearchStrategy[JSON]:
        """A seed with up to three fields replaced by drawn values, or removed."""
        schema = self.schema(name)
        properties: JSON = schema.schema.get("properties", {})

        @st.composite
        def build(draw: st.DrawFn) -> JSON:
            request = dict(draw(seeds))
            if "dataset" in request and draw(st.booleans()):  # the same analysis on degenerate data
                request["dataset"] = draw(st.sampled_from(self.datasets))
            for _ in range(draw(st.sampled_from((0, 1, 1, 1, 2, 3)))):
                key = draw(st.sampled_from(sorted(properties)))
                if key in request and draw(st.integers(0, 4)) == 0:
                    del request[key]
                else:
                    request[key] = draw(schema.value(properties[key], key))
            return request

        return build()

    @functools.cache  # noqa: B019 - one instance per test module; building a strategy reads the schema
    def requests(self, name: str) -> st.SearchStrategy[JSON]:
        """Requests for one tool, by name."""
        schema = self.schema(name)
        from_schema = schema.object(schema.schema)
        seeds: st.SearchStrategy[JSON] | None = None
        if name == "refute":
            seeds = _refute_seeds(lambda tool: self.mutated(tool, st.sampled_from(SEEDS[tool])))
        elif name in SEEDS:
            seeds = st.sampled_from(SEEDS[name])
        if seeds is None:
            return from_schema
        return weighted((1, from_schema), (4, self.mutated(name, seeds)))

    @functools.cache  # noqa: B019
    def arguments(self, name: str) -> st.SearchStrategy[Any]:
        """What a caller hands ``dispatch``: JSON text or a mapping, sometimes deeply nested, cut short or not an
        object at all."""
        requests = self.requests(name)

        @st.composite
        def build(draw: st.DrawFn) -> Any:
            request = draw(requests)
            form = draw(st.sampled_from(FORMS))
            if form == "deep_field":
                key = draw(st.sampled_from(sorted(request) or ["x"]))
                return as_mapping({**request, key: Deep(draw(st.sampled_from(DEEP_LEVELS)))})
            if form == "deep_text":
                return Deep(5_000).text()
            if form == "cut_text":
                return as_text(request)[: draw(st.integers(0, 40))]
            if form == "not_an_object":
                return draw(st.sampled_from(("[1, 2]", "42", "null", '"x"', "")))
            if form == "mapping":
                return as_mapping(request)  # Python floats may be NaN or infinite here
            return as_text(request)  # NaN becomes a token JSON does not allow

        return build()


#: How arguments reach ``dispatch`` (a mapping from Python callers, text from the model), mostly well formed.
FORMS = ("mapping",) * 8 + ("text",) * 8 + ("deep_field", "deep_text", "cut_text", "not_an_object")
