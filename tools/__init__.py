"""whyscope's statistics: pure, deterministic, typed tools usable on their own.

    >>> from tools.power import PowerRequest, power
    >>> power(PowerRequest(metric="mean", baseline=10.0, std_dev=2.0, mde=1.0), None).n_per_arm
    64

This package never imports ``assistant``, ``textual`` or ``openai`` (a test enforces it).
"""
