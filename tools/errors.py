"""The one error type a tool raises for input its caller can fix."""

from __future__ import annotations

from typing import Any

__all__ = ["ToolError"]


class ToolError(Exception):
    """Bad input that the caller (a person or the model) can fix.

    ``code`` is a stable snake_case identifier, ``message`` says what is wrong in the user's terms and
    ``hint`` says how to fix it. The registry's dispatcher returns it (never raises it) so that the
    conversation can hand it back to the model as the tool's result.
    """

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"error": {"code", "message", "hint"}}``."""
        return {"error": {"code": self.code, "message": self.message, "hint": self.hint}}

    def __repr__(self) -> str:
        return f"ToolError(code={self.code!r}, message={self.message!r}, hint={self.hint!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolError):
            return NotImplemented
        return (self.code, self.message, self.hint) == (other.code, other.message, other.hint)

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.hint))
