"""Settings: which model, where, with which key — from flags, ``OPENAI_*`` variables or a config file.

Precedence: command-line flags, then environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_MODEL``),
then ``config.toml`` in the user config directory (``WHYSCOPE_HOME`` overrides every directory, for tests).
The API key is read, never written: sessions, logs and exports do not contain it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Settings", "data_dir", "load_settings", "redact"]

DEFAULT_MODEL = "gpt-4.1-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SECRET = re.compile(
    r"((?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{8,}|(?i:api[-_]?key)=[^&\s]+|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})"
)


def _home() -> Path | None:
    home = os.environ.get("WHYSCOPE_HOME")
    return Path(home) if home else None


def data_dir() -> Path:
    """Where sessions live."""
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir("whyscope"))


def config_file() -> Path:
    home = _home()
    if home is not None:
        return home / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("whyscope")) / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``api_key`` is excluded from repr so it never lands in a log or traceback."""

    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    strict_tools: bool = True
    parallel_tool_calls: bool | None = None
    offline: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def guided(self) -> bool:
        """Whether to use the offline guided mode (asked for, or no key for a remote server)."""
        return self.offline or (self.api_key is None and not _is_local(self.base_url))


def _is_local(url: str) -> bool:
    host = re.sub(r"^\w+://", "", url).split("/")[0].split(":")[0]
    return host in {"localhost", "127.0.0.1", "::1", "[::1]"} or host.startswith("127.")


def load_settings(
    *,
    model: str | None = None,
    base_url: str | None = None,
    offline: bool = False,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Combine flags, environment and config file (in that order of precedence)."""
    env = dict(os.environ if environ is None else environ)
    file: dict[str, Any] = {}
    path = config_file()
    notes: list[str] = []
    if path.is_file():
        try:
            file = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            notes.append(f"Ignored {path}: {exc}.")
    resolved_url = base_url or env.get("OPENAI_BASE_URL") or file.get("base_url") or DEFAULT_BASE_URL
    key = env.get("OPENAI_API_KEY") or file.get("api_key")
    if key and resolved_url.startswith("http://") and not _is_local(resolved_url):
        notes.append(
            f"{resolved_url} is plain http and not local: the API key would travel unencrypted, so it "
            "is not sent. Use https, or a local server."
        )
        key = None
    if not key and _is_local(resolved_url):
        key = "local-no-key"  # local servers (Ollama, llama.cpp) accept any key
    return Settings(
        model=model or env.get("OPENAI_MODEL") or file.get("model") or DEFAULT_MODEL,
        base_url=resolved_url,
        api_key=key or None,
        timeout=float(file.get("timeout", 60.0)),
        strict_tools=bool(file.get("strict_tools", True)),
        parallel_tool_calls=file.get("parallel_tool_calls"),
        offline=offline,
        warnings=tuple(notes),
    )


def redact(text: str) -> str:
    """Text with anything that looks like a secret (API keys, bearer tokens, api-key URL parameters) masked."""
    return _SECRET.sub("[redacted]", text)
