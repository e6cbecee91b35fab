"""Refutation and sensitivity checks for every design, each with its null, numbers and a verdict.

Modules: ``models`` (request and result), ``engine`` (seeded draws over threads, progress, cancellation),
``checks`` (the generic simulation checks), ``sensitivity`` (E-value, Cinelli-Hazlett bounds), ``honest``
(Rambachan-Roth relative magnitudes), ``designs`` (one adapter per target tool), ``verdict`` and ``tool``.
"""

from typing import TYPE_CHECKING, Any

from tools.refute.models import RefuteRequest, RefuteResult

if TYPE_CHECKING:
    from tools.refute.tool import refute

__all__ = ["RefuteRequest", "RefuteResult", "refute"]


def __getattr__(name: str) -> Any:
    # the function pulls in pandas and the target tools; the models do not
    if name == "refute":
        from tools.refute.tool import refute

        return refute
    raise AttributeError(name)
