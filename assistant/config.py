"""Settings: which model, where, with which key — from flags, ``OPENAI_*`` variables or a config file.

Precedence: command-line flags, then environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_MODEL``,
``WHYSCOPE_SMALL_MODEL``), then ``config.toml`` in the user config directory (``WHYSCOPE_HOME`` overrides every
directory, for tests). The API key is read, never written: sessions, logs and exports do not contain it.

Small-model mode (``small_model``, ``context_window``): a model with a short context (a 135M model in llama.cpp, a
7B model in Ollama at its 4k to 8k default) cannot read the normal first request (about 21,000 characters of prompt
and schemas), so the conversation can send a short prompt and fewer tools instead. It is asked for (flag,
variable, file), refused (``--no-small-model``, ``small_model = false``), or left to the context window: the one
configured, else the one the server reports (:func:`assistant.launch.small_model_mode`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Settings", "data_dir", "display_url", "load_settings", "printable", "redact"]

DEFAULT_MODEL = "gpt-4.1-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Words ``WHYSCOPE_SMALL_MODEL`` takes (any case); anything else is reported and ignored.
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
#: The largest context window whyscope takes from a setting (no model reads a hundred million tokens).
MAX_CONTEXT_WINDOW = 100_000_000
#: What a secret can never contain: whitespace and the delimiters of JSON, URLs and prose around it. A mask stops at
#: the first of them, so redacting serialised text never eats a closing quote or brace.
_NOT_SECRET = r"\s\"'`&,;(){}\[\]<>\\"
_SECRET = re.compile(
    r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{8,}"  # OpenAI-style keys
    rf"|(?i:api[-_]?key)=[^{_NOT_SECRET}]+"  # ?api-key=… URL parameters
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"  # Authorization headers
    rf"|(?<=://)[^/?#@{_NOT_SECRET}]+(?=@)"  # the user:password in a URL
)
#: Terminal control: CSI sequences (colours, cursor moves, clear-screen); string sequences up to BEL or ST (OSC 52
#: clipboard writes, OSC 8 hidden links, DCS, APC, PM, SOS); any other ESC sequence; then every C0/C1 control
#: character left (including ``\r`` overprinting and BEL) except newline and tab. An unterminated string sequence
#: loses only its introducer, so its payload shows as plain text instead of vanishing with the rest of the message.
_CONTROL = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
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
    #: True: small-model mode asked for; False: refused; None: decided by the context window.
    small_model: bool | None = None
    #: Where ``small_model`` came from ("--small-model", "WHYSCOPE_SMALL_MODEL", "config.toml"), for the start-up note.
    small_model_from: str = ""
    #: The model's context window in tokens, when configured (None: ask the server).
    context_window: int | None = None

    @property
    def guided(self) -> bool:
        """Whether to use the offline guided mode (asked for, or no key for a remote server)."""
        return self.offline or (self.api_key is None and not _is_local(self.base_url))


def _host(url: str) -> str:
    """The host of a URL (lower case, without user info, port or IPv6 brackets); a URL without a scheme counts."""
    return urlsplit(url if "://" in url else f"//{url}").hostname or ""


def _is_local(url: str) -> bool:
    host = _host(url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def display_url(url: str) -> str:
    """A URL as whyscope shows it: the user name and password (``http://user:pw@host``) masked, and any secret
    in its query redacted. Every message that names the server uses this, never the raw setting."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: show it redacted as text
        return redact(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="[redacted]@" + parts.netloc.rpartition("@")[2])
    return redact(urlunsplit(parts))


def load_settings(
    *,
    model: str | None = None,
    base_url: str | None = None,
    offline: bool = False,
    environ: dict[str, str] | None = None,
    small_model: bool | None = None,
    context_window: int | None = None,
) -> Settings:
    """Combine flags, environment and config file (in that order of precedence). ``small_model`` and
    ``context_window`` are the flags (None: not given); a value that makes no sense is reported and ignored."""
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
            f"{display_url(resolved_url)} is plain http and not local: the API key would travel unencrypted, so it "
            "is not sent. Use https, or a local server."
        )
        key = None
    if not key and _is_local(resolved_url):
        key = "local-no-key"  # local servers (Ollama, llama.cpp) accept any key
    small, small_from = _small_model(small_model, env, file, path, notes)
    window = _context_window(context_window, file, path, notes)
    return Settings(
        model=model or env.get("OPENAI_MODEL") or file.get("model") or DEFAULT_MODEL,
        base_url=resolved_url,
        api_key=key or None,
        timeout=float(file.get("timeout", 60.0)),
        strict_tools=bool(file.get("strict_tools", True)),
        parallel_tool_calls=file.get("parallel_tool_calls"),
        offline=offline,
        warnings=tuple(notes),
        small_model=small,
        small_model_from=small_from,
        context_window=window,
    )


def _small_model(
    flag: bool | None, env: dict[str, str], file: dict[str, Any], path: Path, notes: list[str]
) -> tuple[bool | None, str]:
    """Whether small-model mode is asked for (True), refused (False) or left to the context window (None), and by
    what: the flag, then ``WHYSCOPE_SMALL_MODEL``, then ``small_model`` in the config file."""
    if flag is not None:
        return flag, "--small-model" if flag else "--no-small-model"
    raw = env.get("WHYSCOPE_SMALL_MODEL", "").strip()
    if raw.lower() in _TRUE or raw.lower() in _FALSE:
        return raw.lower() in _TRUE, "WHYSCOPE_SMALL_MODEL"
    if raw:
        notes.append(
            f"Ignored WHYSCOPE_SMALL_MODEL={printable(raw)[:40]!r}: use 1 (small-model mode) or 0 (normal mode)."
        )
    value = file.get("small_model")
    if isinstance(value, bool):
        return value, path.name
    if value is not None:
        notes.append(f"Ignored small_model in {path}: write small_model = true or small_model = false.")
    return None, ""


def _context_window(flag: int | None, file: dict[str, Any], path: Path, notes: list[str]) -> int | None:
    """The configured context window in tokens (the flag, then ``context_window`` in the config file), or None. A
    value that is not a positive whole number is reported and the next source is read."""
    for value, where in ((flag, "--context-window"), (file.get("context_window"), f"context_window in {path}")):
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CONTEXT_WINDOW:
            return value
        notes.append(f"Ignored {where}: give the model's context window as a whole number of tokens, e.g. 8192.")
    return None


def redact(text: str) -> str:
    """Text with anything that looks like a secret (API keys, bearer tokens, api-key URL parameters, the password
    in a URL) masked. A mask never crosses a quote, bracket, comma or space, so redacting a line of JSON keeps it
    JSON; records are still redacted value by value (:func:`redact_value`) before they are serialised."""
    return _SECRET.sub("[redacted]", text)


def redact_value(value: Any) -> Any:
    """A JSON-like value with every string in it (keys included) redacted, its structure untouched; other objects
    become their ``str`` (as ``json.dumps(default=str)`` would show them), redacted."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {redact(key) if isinstance(key, str) else key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return redact(str(value))


def printable(text: str) -> str:
    """Text safe to write to a terminal: escape sequences (colours, clear-screen, OSC 52 clipboard writes, OSC 8
    hidden links) and control characters (BEL, ``\\r`` overprinting, C1) removed; newlines and tabs kept. The one
    rule for every terminal sink: ``whyscope chat`` and the app's widgets."""
    return _CONTROL.sub("", text)
