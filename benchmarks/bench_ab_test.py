"""A/B test benchmark: analyse a generated experiment of 1M and 10M users, from a Parquet file and in memory.

Run:  python3 dev.py bench      (or .venv/bin/python benchmarks/bench_ab_test.py [--sizes 1000000,10000000])
Targets (issue): 10M rows from Parquet <= 0.5 s one-shot and <= 600 MB peak; 10M in memory <= 0.1 s.

The data (seeded) has one row per user: user_id (int64, shuffled), arm ('control'/'treatment', a slight
sample-ratio mismatch of 50.2/49.8 so the SRM check fails at these sizes), converted (0/1, int64), revenue
(skewed float, zero for most users) and pre_revenue (the pre-period revenue, a float covariate). It is written
once as Parquet (pyarrow defaults: snappy, row groups of 1Mi rows) into a temporary folder.

- one-shot: a fresh interpreter imports whyscope (not timed: reported as "imports"), then times
  ``Catalog().add(path, "exp")`` followed by ``dispatch("ab_test", ...)`` with a binary metric (converted) and a
  continuous one with CUPED (revenue, covariate pre_revenue). A file of 1Mi rows or more is attached lazily
  (footer and hash only) and ab_test streams the columns it needs from it. Peak memory is the process's
  ``ru_maxrss``; the interpreter with its imports (the baseline) is reported separately and subtracted. The file
  was just written, so it is read from the page cache (a warm read; a cold disk adds its own read time).
- in memory: the same dispatch on a dataset whose frame is in memory (``catalog.frame`` read it, as any other
  tool or a first look at the data does), median of several runs in one process.
- follow-up on the file: the same dispatch again on a lazily attached dataset never read into memory (it
  streams again; the repeated-ID check is remembered), median of a few runs.

Times are wall-clock; the CPU time of the same runs (all threads) is printed too: on a shared machine the wall
time depends on the load (printed, 1-minute load average), the CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# This process stays small and touches no data: on Linux a child's ru_maxrss starts at its parent's peak
# (the high-water mark survives fork and exec), so data is generated, loaded and analysed only in children.

SIZES = (1_000_000, 10_000_000)
SEED = 20_240_601
ONE_SHOT_RUNS = 3
IN_MEMORY_RUNS = 7
FOLLOW_UP_RUNS = 3
REQUEST: dict[str, Any] = {
    "dataset": "exp",
    "arm_column": "arm",
    "metrics": [
        {"name": "conversion", "column": "converted", "kind": "binary"},
        {"name": "revenue", "kind": "continuous", "covariate_column": "pre_revenue", "role": "secondary"},
    ],
}
TARGETS = {"one_shot_s": 0.5, "peak_mb": 600.0, "in_memory_s": 0.1}
TARGET_ROWS = 10_000_000


def generate(n: int, seed: int = SEED) -> pa.Table:
    """One row per user; treatment lifts conversion by 3% and revenue by 2% (relative)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    treated = rng.random(n) >= 0.502  # 50.2% control, 49.8% treatment
    arm = pa.DictionaryArray.from_arrays(pa.array(treated.astype(np.int8)), pa.array(["control", "treatment"]))
    pre_revenue = np.round(rng.gamma(0.4, 30.0, n) * (rng.random(n) < 0.35), 2)
    converted = (rng.random(n) < np.where(treated, 0.103, 0.100)).astype(np.int64)
    spend = rng.lognormal(3.0, 1.2, n) * converted + 0.5 * pre_revenue * (rng.random(n) < 0.5)
    revenue = np.round(spend * np.where(treated, 1.02, 1.0), 2)
    return pa.table(
        {
            "user_id": pa.array(rng.permutation(n).astype(np.int64) + 10_000_000),
            "arm": arm.cast(pa.string()),  # plain strings, as most exports write them
            "converted": pa.array(converted),
            "revenue": pa.array(revenue),
            "pre_revenue": pa.array(pre_revenue),
        }
    )


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def _fingerprint(result: Any) -> dict[str, Any]:
    """The numbers that must not change when the code gets faster."""
    return {
        "n_obs": result.n_obs,
        "srm_p": result.srm.p_value,
        "decision": result.decision,
        "warnings": len(result.warnings),
        "comparisons": [
            [c.metric, c.control_mean, c.treatment_mean, c.absolute.estimate, c.absolute.std_error, c.p_value_raw]
            for c in result.comparisons
        ],
    }


def child_one_shot(path: str) -> dict[str, Any]:
    start = time.perf_counter()
    import tools.ab_test.tool  # noqa: F401 - the tool loads lazily on first dispatch; not part of the timing
    from tools.data import Catalog
    from tools.registry import dispatch

    imports = time.perf_counter() - start
    baseline = _rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    catalog = Catalog()
    catalog.add(path, "exp")
    loaded = time.perf_counter() - start
    result = dispatch("ab_test", REQUEST, catalog)
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if not hasattr(result, "comparisons"):
        raise SystemExit(f"ab_test failed: {result}")
    return {
        "imports_s": imports,
        "load_s": loaded,
        "one_shot_s": total,
        "one_shot_cpu_s": cpu,
        "baseline_mb": baseline,
        "peak_mb": _rss_mb(),
        "fingerprint": _fingerprint(result),
    }


def child_in_memory(path: str) -> dict[str, Any]:
    from tools.data import Catalog
    from tools.registry import dispatch

    catalog = Catalog()
    catalog.add(path, "exp")
    catalog.frame("exp")  # the frame in memory
    dispatch("ab_test", REQUEST, catalog)  # warm-up
    samples, cpus = [], []
    for _ in range(IN_MEMORY_RUNS):
        start, cpu = time.perf_counter(), time.process_time()
        result = dispatch("ab_test", REQUEST, catalog)
        samples.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "cpu_s": statistics.median(cpus),
        "fingerprint": _fingerprint(result),
    }


def child_follow_up(path: str) -> dict[str, Any]:
    from tools.data import Catalog
    from tools.registry import dispatch

    catalog = Catalog()
    catalog.add(path, "exp")
    dispatch("ab_test", REQUEST, catalog)  # the first question
    samples, cpus = [], []
    for _ in range(FOLLOW_UP_RUNS):
        start, cpu = time.perf_counter(), time.process_time()
        result = dispatch("ab_test", REQUEST, catalog)
        samples.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    streamed = catalog.get("exp").source is not None
    return {"median_s": statistics.median(samples), "cpu_s": statistics.median(cpus), "streamed": streamed,
            "fingerprint": _fingerprint(result)}  # fmt: skip


def child_generate(n: int, path: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    pq.write_table(generate(n), path)
    return {"file_mb": Path(path).stat().st_size / 1e6}


def child_duckdb(path: str) -> dict[str, Any]:
    """The issue's anchor: DuckDB's one-pass SQL aggregate straight from the Parquet file (if installed)."""
    try:
        import duckdb  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return {"seconds": None}
    query = f"""
        SELECT arm, count(*), sum(converted), sum(revenue), sum(revenue * revenue), sum(pre_revenue),
               sum(pre_revenue * pre_revenue), sum(revenue * pre_revenue)
        FROM read_parquet('{path}') GROUP BY arm"""
    samples = []
    for _ in range(ONE_SHOT_RUNS):
        start = time.perf_counter()
        duckdb.connect().execute(query).fetchall()
        samples.append(time.perf_counter() - start)
    return {"seconds": statistics.median(samples)}


CHILDREN = {
    "one-shot": child_one_shot,
    "in-memory": child_in_memory,
    "follow-up": child_follow_up,
    "duckdb": child_duckdb,
}


def _in_child(mode: str, *args: object) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, *map(str, args)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _check(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated numbers of users")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        out = child_generate(int(rest[0]), rest[1]) if mode == "generate" else CHILDREN[mode](rest[0])
        print(json.dumps(out))
        return

    versions = ", ".join(f"{name} {version(name)}" for name in ("numpy", "pandas", "pyarrow", "scipy"))
    print(
        f"ab_test benchmark — python {platform.python_version()}, {versions}, {os.cpu_count()} cores, "
        f"{platform.machine()} {platform.system()}"
    )
    print(
        "request: binary 'converted' + continuous 'revenue' with CUPED on 'pre_revenue', SRM check; "
        f"one-shot = fresh process, median of {ONE_SHOT_RUNS} (peak = the largest); "
        f"in memory = median of {IN_MEMORY_RUNS} dispatches"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    print(
        f"{'users':>11} {'file MB':>8} {'imports':>8} {'load':>8} {'one-shot':>9} {'(cpu)':>7} {'peak RSS':>9} "
        f"{'above base':>10} {'in memory':>10} {'(cpu)':>7} {'follow-up':>10} {'(cpu)':>7} {'duckdb ref':>10}"
    )
    lines = []
    with tempfile.TemporaryDirectory(prefix="whyscope-bench-") as folder:
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(folder) / f"exp_{n}.parquet"
            size_mb = _in_child("generate", n, path)["file_mb"]
            shots = [_in_child("one-shot", path) for _ in range(ONE_SHOT_RUNS)]
            memory = _in_child("in-memory", path)
            follow = _in_child("follow-up", path)
            if (
                any(s["fingerprint"] != memory["fingerprint"] for s in shots)
                or follow["fingerprint"] != memory["fingerprint"]
            ):
                raise SystemExit("one-shot, follow-up and in-memory results differ")
            duck = _in_child("duckdb", path)["seconds"]
            one_shot = statistics.median(s["one_shot_s"] for s in shots)
            one_shot_cpu = statistics.median(s["one_shot_cpu_s"] for s in shots)
            load = statistics.median(s["load_s"] for s in shots)
            peak = max(s["peak_mb"] for s in shots)
            base = max(s["baseline_mb"] for s in shots)
            imports = statistics.median(s["imports_s"] for s in shots)
            print(
                f"{n:>11,} {size_mb:>8.1f} {imports:>7.2f}s {load:>7.3f}s {one_shot:>8.3f}s {one_shot_cpu:>6.3f}s "
                f"{peak:>6.0f} MB {peak - base:>7.0f} MB {memory['median_s']:>9.4f}s {memory['cpu_s']:>6.3f}s "
                f"{follow['median_s']:>9.3f}s {follow['cpu_s']:>6.3f}s "
                + (f"{duck:>9.3f}s" if duck is not None else f"{'-':>10}")
            )
            lines.append((n, one_shot, peak - base, memory["median_s"], base, memory["fingerprint"]))
    print("(load = Catalog.add alone; peak RSS = the whole process; above base = less the interpreter and imports;")
    print(" follow-up = a repeated question on a large file attached lazily and never read into memory)")
    print(f"load average at end: {os.getloadavg()[0]:.2f} (1 min)")
    for n, one_shot, above, in_memory, base, fingerprint in lines:
        if n == TARGET_ROWS:
            print(
                f"targets at 10M: one-shot {one_shot:.3f} s <= {TARGETS['one_shot_s']} s "
                f"[{_check(one_shot, TARGETS['one_shot_s'])}]; peak {above:.0f} MB above a {base:.0f} MB baseline "
                f"<= {TARGETS['peak_mb']:.0f} MB [{_check(above, TARGETS['peak_mb'])}]; "
                f"in memory {in_memory:.4f} s <= {TARGETS['in_memory_s']} s "
                f"[{_check(in_memory, TARGETS['in_memory_s'])}]"
            )
        first = fingerprint["comparisons"][0]
        print(
            f"{n:>11,} users: SRM p = {fingerprint['srm_p']:.3g}, {first[0]} {first[1]:.5f} -> {first[2]:.5f}, "
            f"decision {fingerprint['decision']!r}"
        )


if __name__ == "__main__":
    main()
