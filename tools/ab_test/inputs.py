"""From a request and its data (rows or dashboard summaries) to validated per-arm moments.

Every problem with the input is a ToolError naming the column, the values and the fix; rows left out for a
reason (missing values, units seen in two arms) are counted and reported, never dropped silently.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from tools.ab_test.engine import Unsupported
from tools.ab_test.exposure import exposure_values
from tools.ab_test.ids import repeated_id_columns
from tools.ab_test.metric_columns import read_metric
from tools.ab_test.models import AbTestRequest, MetricSpec
from tools.ab_test.parquet import prepare_parquet
from tools.ab_test.rows import frame_arm, frame_blocks, prepare_fast
from tools.ab_test.stats import Moments, group_moments
from tools.data.catalog import Dataset
from tools.data.columns import column as frame_column
from tools.data.columns import find_label, label_value
from tools.data.names import display_name
from tools.errors import ToolError

__all__ = [
    "MetricData",
    "Prepared",
    "arm_labels",
    "choose_control",
    "expected_shares",
    "find_label",
    "label_text",
    "label_value",
    "prepare_rows",
    "repeated_id_columns",
    "zero_one",
]

T = TypeVar("T")

CONTROL_NAMES = ("control", "ctrl", "baseline", "a", "0", "false", "off", "holdout", "default", "c")
POST_PERIOD = re.compile(r"post|after|during|outcome|result", re.I)


@dataclass
class MetricData:
    """One metric's moments per arm (control first), with and without capping."""

    spec: MetricSpec
    moments: list[Moments]
    ratio: bool  # estimate as a ratio of means (ratio metrics, or any metric summed per randomization unit)
    uncapped: list[Moments] | None = None
    cap: float | None = None
    capped_values: int = 0
    excluded_rows: int = 0
    largest_unit_share: float | None = None  # share of the metric's total from its single largest unit
    exposure: list[Moments] | None = None  # with exposure_column: moments of (metric, exposure as d, covariate)


@dataclass
class Prepared:
    """Everything the analysis needs, data-source independent."""

    arms: list[str]  # control first
    units: list[int]  # randomized units per arm, for the SRM check
    metrics: list[MetricData]
    source: str
    notes: list[str] = field(default_factory=list)
    unit_label: str = "units"
    crossover_units: int = 0


# --- arms ------------------------------------------------------------------------------------------------


def choose_control(labels: list[str], control: str | None) -> list[str]:
    """The arm labels ordered control first (then by label); ToolErrors for one arm or an unclear control.

    ``control`` names an arm exactly as in the data or by value: '0', '0.0' and 0 all name the arm '0' of a 0/1
    column (``find_label``). With no ``control``, a conventional name is chosen ('control', 'A', ...); in a 0/1 or
    false/true column that is 0 (false)."""
    if len(labels) < 2:
        raise ToolError(
            "one_arm",
            f"Only one arm is present ({', '.join(repr(x) for x in labels) or 'none'}); a comparison needs two.",
            "Check the arm column and any filtering: the data should hold control and at least one treatment.",
        )
    if control is not None:
        found = find_label(control, labels)
        if found is None:
            close = difflib.get_close_matches(control, labels, n=1)
            raise ToolError(
                "unknown_control",
                f"The control arm '{display_name(control)}' is not among the arms found: {_labels(labels)}.",
                (f"Did you mean '{close[0]}'? " if close else "")
                + "Give one of the labels as in the data (numbers match by value: '0' names 0.0).",
            )
        control = found
    else:
        # the best-ranked conventional name wins ('control' over 'a' over 'c'); a tie is ambiguous
        ranked = sorted((rank, label) for label in labels if (rank := _control_rank(label, labels)) is not None)
        if not ranked or (len(ranked) > 1 and ranked[0][0] == ranked[1][0]):
            raise ToolError(
                "control_ambiguous",
                f"Cannot tell which arm is control among {_labels(labels)}.",
                "Give `control` with the control arm's label.",
            )
        control = ranked[0][1]
    return [control, *sorted(label for label in labels if label != control)]


#: A label that is a plain decimal number ('1', '-2', '0.50', '1e3'): it names an arm by its value.


def zero_one(labels: list[str]) -> bool:
    """Whether the arms are the two values of a 0/1 (or false/true) column."""
    values = [value for label in labels if (value := label_value(label)) is not None]
    return len(labels) == 2 and sorted(values) == [0.0, 1.0]


def _control_rank(label: str, labels: list[str]) -> int | None:
    """Where ``label`` ranks among the conventional control names; 0 of a 0/1 arm column ranks as '0'."""
    text = label.strip().lower()
    if text in CONTROL_NAMES:
        return CONTROL_NAMES.index(text)
    if label_value(label) == 0.0 and zero_one(labels):
        return CONTROL_NAMES.index("0")
    return None


def label_text(value: object) -> str:
    """An arm label as the user reads it: a whole number stored as a float (a 0/1 column with blanks loads as
    floats) without its '.0'; any other value as its text."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def arm_labels(arm: pd.Series) -> NDArray[np.object_]:
    """Each row's arm label, as the tool names the arms (None where the row has none)."""
    codes, labels = _arm_codes(arm)
    lookup: NDArray[np.object_] = np.array([*labels, None], dtype=object)
    return np.asarray(lookup[codes], dtype=object)


def _labels(labels: list[str]) -> str:
    shown = ", ".join(f"'{display_name(x, 40)}'" for x in labels[:12])
    return "{" + shown + (", …" if len(labels) > 12 else "") + "}"


def expected_shares(request: AbTestRequest, arms: list[str]) -> list[float]:
    """Planned share per arm (normalised); equal when no split was given. Arms are named as ``control`` is: exactly
    or by value ('1.0' names the arm '1')."""
    if request.expected_split is None:
        return [1.0 / len(arms)] * len(arms)
    planned: dict[str, float] = {}
    for entry in request.expected_split:
        arm = find_label(entry.arm, arms)
        if arm is None or arm in planned:
            break
        planned[arm] = entry.share
    if set(planned) != set(arms) or len(planned) != len(request.expected_split):
        given = sorted({s.arm for s in request.expected_split})
        raise ToolError(
            "split_mismatch",
            f"expected_split names arms {_labels(given)}, but the data has {_labels(arms)}.",
            "Give one share per arm, with the labels as in the data.",
        )
    total = sum(planned.values())
    return [planned[a] / total for a in arms]


# --- row-level data --------------------------------------------------------------------------------------


def _arm_codes(arm: pd.Series) -> tuple[NDArray[np.signedinteger], list[str]]:
    """``pandas.factorize`` of the column as text: a code per row (-1 when missing) and the labels in order of
    first appearance. Arrow-backed text (what the loader makes) is dictionary-encoded by Arrow directly, as
    pandas would, without its conversions. Floats are factorized as numbers and labelled as the user reads them
    (``label_text``: a 0/1 column with blanks gives the arms '0' and '1', not '0.0' and '1.0')."""
    if isinstance(arm.dtype, pd.CategoricalDtype):
        # the codes exist already; categories that no row uses are not arms
        codes = np.asarray(arm.cat.codes.to_numpy(), dtype=np.intp)
        used = np.bincount(codes[codes >= 0], minlength=len(arm.cat.categories)) > 0
        labels = [label_text(label) for label, keep in zip(arm.cat.categories, used, strict=True) if keep]
        if not used.all():
            renumber = np.append(np.cumsum(used) - 1, -1)
            renumber[np.flatnonzero(~used)] = -1
            codes = renumber[codes]
        return codes, labels
    if pd.api.types.is_float_dtype(arm.dtype):
        codes, uniques = pd.factorize(arm, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.intp), [label_text(u) for u in uniques]
    if not (isinstance(arm.dtype, pd.StringDtype) and arm.dtype.storage == "pyarrow"):
        codes, uniques = pd.factorize(arm.astype("string"), use_na_sentinel=True)
        return np.asarray(codes, dtype=np.intp), [str(u) for u in uniques]
    combined = pa.chunked_array(pa.array(arm.array)).dictionary_encode().combine_chunks()
    indices = combined.indices
    if indices.null_count:
        indices = indices.fill_null(-1)
    labels = [str(label) for label in combined.dictionary.to_pylist()]
    return np.asarray(indices.to_numpy(zero_copy_only=False)), labels  # int32 codes, as Arrow made them


def prepare_rows(request: AbTestRequest, data: pd.DataFrame | Dataset) -> Prepared:
    """Validate row-level data (a frame, or an attached dataset) and reduce it to moments per arm.

    The common request takes the fast path (``rows``): streamed from the file for a large Parquet dataset not
    read yet, else from the frame in memory. Anything it does not handle, and every input problem, goes
    through the general path below, which reports it."""
    if isinstance(data, Dataset) and data.engine is not None:  # a table in an engine: the moments come back
        from tools.engine.ab_test import prepare_engine

        if request.arm_column is None:
            raise ToolError("missing_arm_column", "ab_test on a table needs arm_column.", "Name the arm column.")
        return prepare_engine(request, data.engine)
    if request.arm_column is not None and request.summaries is None:
        if isinstance(data, Dataset) and data.source is not None:
            try:
                return prepare_parquet(request, data)
            except Unsupported:
                pass
        frame = data.frame if isinstance(data, Dataset) else data
        if request.arm_column in frame.columns:
            try:
                arm = _memo(data, f"arm:{request.arm_column}", lambda: frame_arm(frame[request.arm_column]))
                return prepare_fast(request, arm, set(frame.columns), frame_blocks(frame, arm.codes))
            except Unsupported:
                pass
    return _prepare_general(request, data.frame if isinstance(data, Dataset) else data)


def _memo(data: pd.DataFrame | Dataset, key: str, compute: Callable[[], T]) -> T:
    if not isinstance(data, Dataset):
        return compute()
    memo = data.memo
    if key not in memo:
        memo[key] = compute()
    value: T = memo[key]
    return value


def _prepare_general(request: AbTestRequest, frame: pd.DataFrame) -> Prepared:
    if request.arm_column is None:
        raise ToolError(
            "missing_arm_column", "Row-level analysis needs arm_column.", "Name the column holding each row's arm."
        )
    if request.summaries is not None:
        raise ToolError(
            "conflicting_inputs",
            "Both a dataset and summaries were given.",
            "Use one: the dataset (row-level) or the summaries (dashboard numbers).",
        )
    notes: list[str] = []
    arm_raw = frame_column(frame, request.arm_column, "arm")
    arm_missing = arm_raw.isna().to_numpy()
    codes_all, labels = _arm_codes(arm_raw)
    if arm_missing.any():
        notes.append(f"{int(arm_missing.sum()):,} row(s) with no arm label were left out.")
    arms = choose_control(labels, request.control)
    remap = np.array([arms.index(label) for label in labels], dtype=np.intp)
    keep = codes_all >= 0
    # labels already in the analysis order keep their codes; otherwise code -1 (no arm) picks the trailing -1
    lookup = np.append(remap, -1).astype(np.int8 if len(arms) < 128 else np.intp)
    row_arm = codes_all if np.array_equal(remap, np.arange(len(labels))) else lookup[codes_all]

    cluster_codes: NDArray[np.intp] | None = None
    unit_label = "units"
    crossover = 0
    if request.cluster_column is not None:
        unit_label = f"'{display_name(request.cluster_column)}' units"
        cluster_raw = frame_column(frame, request.cluster_column, "cluster")
        cluster_codes_all, cluster_uniques = pd.factorize(cluster_raw, use_na_sentinel=True)
        missing_cluster = (cluster_codes_all < 0) & keep
        if missing_cluster.any():
            notes.append(f"{int(missing_cluster.sum()):,} row(s) with no '{request.cluster_column}' were left out.")
        keep &= cluster_codes_all >= 0
        n_clusters = len(cluster_uniques)
        first_arm = np.full(n_clusters, -1, dtype=np.intp)
        kept_idx = np.flatnonzero(keep)
        first_arm[cluster_codes_all[kept_idx[::-1]]] = row_arm[kept_idx[::-1]]  # any arm seen for the cluster
        mixed = np.zeros(n_clusters, dtype=bool)
        mixed[cluster_codes_all[kept_idx]] |= row_arm[kept_idx] != first_arm[cluster_codes_all[kept_idx]]
        crossover = int(mixed.sum())
        if crossover:
            dropped_rows = int(mixed[cluster_codes_all[kept_idx]].sum())
            notes.append(
                f"{crossover:,} '{request.cluster_column}' unit(s) appear in more than one arm; their "
                f"{dropped_rows:,} row(s) were left out."
            )
            keep[kept_idx] &= ~mixed[cluster_codes_all[kept_idx]]
        cluster_codes = cluster_codes_all

    exposure = exposure_values(request, frame, keep) if request.exposure_column is not None else None
    metrics = [
        _metric_from_rows(request, frame, spec, row_arm, keep, cluster_codes, len(arms), notes, exposure)
        for spec in request.metrics
    ]
    if cluster_codes is not None:
        kept = np.flatnonzero(keep)
        present = np.zeros(int(cluster_codes.max()) + 1 if len(cluster_codes) else 0, dtype=bool)
        arm_of = np.full(len(present), -1, dtype=np.intp)
        present[cluster_codes[kept]] = True
        arm_of[cluster_codes[kept]] = row_arm[kept]
        units = np.bincount(arm_of[present], minlength=len(arms)).tolist()
    else:
        units = np.bincount(row_arm[keep], minlength=len(arms)).tolist()
    return Prepared(
        arms=arms,
        units=[int(u) for u in units],
        metrics=metrics,
        source="rows",
        notes=notes,
        unit_label=unit_label,
        crossover_units=crossover,
    )


def _metric_from_rows(
    request: AbTestRequest,
    frame: pd.DataFrame,
    spec: MetricSpec,
    row_arm: NDArray[np.signedinteger],
    keep: NDArray[np.bool_],
    cluster_codes: NDArray[np.intp] | None,
    n_arms: int,
    notes: list[str],
    exposure: NDArray[np.float64] | None = None,
) -> MetricData:
    read = read_metric(frame, spec, keep, clustered=cluster_codes is not None)
    y, d, x, valid = read.y, read.d, read.x, read.valid
    excluded = int(np.count_nonzero(keep)) - int(np.count_nonzero(valid))
    if excluded:
        notes.append(f"Metric '{spec.name}': {excluded:,} row(s) with missing values were left out.")
    data = MetricData(spec=spec, moments=[], ratio=spec.kind == "ratio" or cluster_codes is not None)
    data.excluded_rows = excluded

    rows = None if excluded == 0 and len(keep) == int(np.count_nonzero(keep)) else valid  # None: every row

    def used(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return values if rows is None else np.compress(rows, values)

    yv, arm = used(y), row_arm if rows is None else np.compress(rows, row_arm)
    dv = used(d) if d is not None else None
    xv = used(x) if x is not None else None
    if request.winsorize is not None and spec.kind == "continuous" and len(yv):
        data.cap = float(np.quantile(yv, request.winsorize))
        data.capped_values = int((yv > data.cap).sum())
        data.uncapped = _moments(arm, n_arms, yv, dv, xv, cluster_codes, rows)
        yv = np.minimum(yv, data.cap)
    if spec.kind == "continuous" and len(yv):
        size = yv if yv.min() >= 0 else np.abs(yv)  # the same sums: |v| is v for every v >= 0
        with np.errstate(over="ignore"):  # a sum beyond floating point is refused later (values_too_large)
            total = float(size.sum())
        data.largest_unit_share = float(size.max()) / total if total > 0 else None
    data.moments = _moments(arm, n_arms, yv, dv, xv, cluster_codes, rows)
    if exposure is not None:  # the metric as tested (capped) beside exposure and the covariate, on the same rows
        data.exposure = _moments(arm, n_arms, yv, used(exposure), xv, None, rows)
    return data


def _moments(
    arm: NDArray[np.signedinteger],
    n_arms: int,
    y: NDArray[np.float64],
    d: NDArray[np.float64] | None,
    x: NDArray[np.float64] | None,
    cluster_codes: NDArray[np.intp] | None,
    rows: NDArray[np.bool_] | None,
) -> list[Moments]:
    """Moments per arm; values so large that their sums overflow give infinite moments without a warning, and
    the tool refuses them (``values_too_large``), as the fast path's fallback here does."""
    with np.errstate(over="ignore", invalid="ignore"):
        if cluster_codes is None:
            return group_moments(arm, n_arms, y, d, x)
        # sum the metric (and the denominator, or the row count) per randomized unit, then a ratio of means
        clusters = cluster_codes if rows is None else np.compress(rows, cluster_codes)
        ids, dense = np.unique(clusters, return_inverse=True)
        y_sum = np.asarray(np.bincount(dense, weights=y, minlength=len(ids)), dtype=np.float64)
        d_sum = np.asarray(np.bincount(dense, weights=d, minlength=len(ids)), dtype=np.float64)
        cluster_arm = np.empty(len(ids), dtype=np.intp)
        cluster_arm[dense] = arm
        return group_moments(cluster_arm, n_arms, y_sum, d_sum, None)


# --- summaries -------------------------------------------------------------------------------------------
