"""Design-time randomisation: the assign tool (complete, stratified or cluster assignment from a salt, with a balance
table and Morgan & Rubin rerandomisation)."""

from tools.assign.models import AssignRequest, AssignResult

__all__ = ["AssignRequest", "AssignResult"]
