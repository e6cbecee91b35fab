"""Group-sequential designs and always-valid inference: looking at an experiment before it ends without lying.

- ``spending``: Lan-DeMets alpha-spending functions, O'Brien-Fleming-type and Pocock-type (as rpact's ``asOF`` and
  ``asP``: a two-sided design at ``alpha`` spends ``alpha / 2`` on each side).
- ``integration``: the recursive numerical integration of Armitage, McPherson & Rowe (1969) on Simpson grids, as
  Jennison & Turnbull (2000, ch. 19) lay it out: sub-densities of the z statistic on the continuation region, look by
  look, under H0 once, and under any drift by exponential tilting.
- ``design``: boundaries per look (``boundaries``), the drift that gives a power, the inflation factor and the expected
  sample size under H1 and H0 (``group_sequential_design``), and power at given drifts (``sequential_power``).
- ``monitoring``: one interim analysis (``look_decision``): the boundary recomputed at the actual information
  fraction, whether it is crossed, the repeated confidence interval (Jennison & Turnbull ch. 9) and the decision.
- ``confidence_sequence``: asymptotic confidence sequences for a difference in means (Waudby-Smith et al. 2023; the
  normal-mixture boundary of Howard et al. 2021), valid at every sample size.
- ``thompson``: Thompson-sampling allocation (probability each arm is best, the next period's split).
- ``models``: the result pieces other tools embed (``SequentialBoundary``, ``LookDecision``, …); pydantic only.

Nothing is imported here: ``tools.power.models`` imports ``models`` while the registry loads, which must stay light.
"""
