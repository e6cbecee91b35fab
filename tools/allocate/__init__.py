"""The allocate_traffic tool: Thompson-sampling allocation for a test whose goal is to earn while it learns.

Modules: ``models`` (request and result), ``tool`` (``allocate_traffic``, on ``tools.sequential.thompson``), ``spec``.
"""

from tools.allocate.models import AllocateTrafficRequest, AllocateTrafficResult

__all__ = ["AllocateTrafficRequest", "AllocateTrafficResult"]
