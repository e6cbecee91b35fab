"""The calibration table as text: one line per estimator and design, then the notes and the reference parity."""

from __future__ import annotations

from tools.validate.models import ValidationReport, ValidationRow

__all__ = ["format_report"]

HEADER = ("estimator", "design", "reps", "n", "coverage", "A/A FPR", "power (formula)", "status")


def _rate(value: float | None, mc_se: float | None) -> str:
    return "" if value is None or mc_se is None else f"{value:.3f} ±{mc_se:.3f}"


def _power(row: ValidationRow) -> str:
    if row.power is None or row.power_mc_se is None:
        return ""
    planned = f" ({row.power_planned:.3f})" if row.power_planned is not None else ""
    return f"{row.power:.3f} ±{row.power_mc_se:.3f}{planned}"


def _status(row: ValidationRow) -> str:
    return row.status + ("*" if row.misspecified else "")


def _cells(row: ValidationRow) -> tuple[str, ...]:
    return (
        row.estimator,
        row.what,
        f"{row.replications:,}",
        f"{row.n:,}",
        _rate(row.coverage, row.coverage_mc_se),
        _rate(row.fpr, row.fpr_mc_se),
        _power(row),
        _status(row),
    )


def format_report(report: ValidationReport) -> str:
    """The table, its legend, the notes of rows that read 'check', and each row's reference parity."""
    alpha = report.rows[0].alpha if report.rows else 0.05
    table = [HEADER, *(_cells(row) for row in report.rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(HEADER))]
    numeric = {2, 3}
    lines = [
        "  ".join(
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [
        "",
        f"{report.size} run, seed {report.seed}. Nominal: coverage {1 - alpha:.2f}, A/A FPR {alpha:.2f}; ± is one "
        f"Monte Carlo standard error. 'check': a figure more than {report.band:g} MC SEs (at the nominal rate) from "
        "nominal, a disagreeing reference, or failed replications.",
        "* deliberately mis-specified analysis: 'check' is the expected result (it shows the table can tell).",
    ]
    notes = [(row, row.note) for row in report.rows if row.status == "check"]
    if notes:
        lines += ["", "Checks:"]
        lines += [f"  {row.estimator} / {row.what}: {note}" for row, note in notes]
    references = [row for row in report.rows if row.reference]
    if references:
        lines += ["", "Reference parity:"]
        for row in references:
            verdict = {True: "agrees", False: "DISAGREES", None: "pinned by the test suite"}[row.reference_ok]
            lines.append(f"  {row.estimator} / {row.what}: {row.reference} [{verdict}]")
    return "\n".join(lines) + "\n"
