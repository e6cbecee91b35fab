"""Prompt texts, shipped as files inside the package and loaded through :func:`load`."""

from __future__ import annotations

from importlib import resources

__all__ = ["available", "load"]


def load(name: str) -> str:
    """The text of ``prompts/<name>.md``; a missing prompt is a programming error (FileNotFoundError)."""
    resource = resources.files(__package__).joinpath(f"{name}.md")
    if not resource.is_file():
        raise FileNotFoundError(f"no prompt named {name!r} in the prompts package (looked for {name}.md)")
    return resource.read_text(encoding="utf-8")


def available() -> list[str]:
    """Names of every shipped prompt."""
    return sorted(p.name[:-3] for p in resources.files(__package__).iterdir() if p.name.endswith(".md"))
