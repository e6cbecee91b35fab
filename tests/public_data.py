"""Public research data sets nobody here wrote, as a user would bring them: CSV exports.

The test-only ``causaldata`` package ships them (no network at test time); :func:`write_public` writes one to a
folder as the CSV a user would attach with ``--data`` or ``/load``. Blanks stay blanks, so a 0/1 column with
missing values reads back as floats, as it would from any export.
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["PUBLIC", "write_public"]

#: The six sets the guided mode is tried on (issue 18), with what each is: design, and the published question.
PUBLIC: dict[str, str] = {
    "nsw_mixtape": "randomised job training (NSW): 185 treated, 260 controls; earnings in 1978 (re78)",
    "thornton_hiv": "randomised cash incentive to learn HIV results (Thornton 2008): `any` incentive, `got` result",
    "castle": "castle-doctrine laws adopted by states in different years (Cheng & Hoekstra 2013): l_homicide",
    "organ_donations": "California's opt-in change in 2011 Q3 (Kessler & Roth): donation Rate by State and Quarter",
    "close_elections_lmb": "close US House elections (Lee, Moretti & Butler 2004): score by lagged vote share at 50%",
    "gov_transfers": "a cash transfer below an income cutoff (Manacorda et al.): Support by Income_Centered at 0",
}


def write_public(name: str, folder: Path) -> Path:
    """Write the public data set ``name`` to ``folder/<name>.csv`` (no index) and return the path."""
    if name not in PUBLIC:
        raise KeyError(f"unknown public data set {name!r}; known: {', '.join(PUBLIC)}")
    module = importlib.import_module(f"causaldata.{name}")
    frame = module.load_pandas().data
    path = Path(folder) / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path
