"""Settings precedence, local servers, and the API key's safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import load_settings


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path))
    return tmp_path


def test_no_key_means_guided_mode() -> None:
    settings = load_settings(environ={})
    assert settings.api_key is None and settings.guided


def test_flags_beat_environment_beat_config_file(home: Path) -> None:
    (home / "config.toml").write_text('model = "from-file"\nbase_url = "https://file.example/v1"\n', encoding="utf-8")
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_MODEL": "from-env"}
    assert load_settings(environ=env).model == "from-env"
    assert load_settings(environ=env).base_url == "https://file.example/v1"
    assert load_settings(model="from-flag", environ=env).model == "from-flag"
    assert not load_settings(environ=env).guided
    assert load_settings(offline=True, environ=env).guided


def test_local_servers_need_no_key_and_plain_http_elsewhere_gets_none(home: Path) -> None:
    local = load_settings(base_url="http://localhost:11434/v1", environ={})
    assert local.api_key and not local.guided
    remote = load_settings(base_url="http://api.example.com/v1", environ={"OPENAI_API_KEY": "sk-real"})
    assert remote.api_key is None and remote.guided
    assert any("unencrypted" in w for w in remote.warnings)


def test_the_key_is_not_in_repr() -> None:
    settings = load_settings(environ={"OPENAI_API_KEY": "sk-very-secret-key"})
    assert "sk-very-secret-key" not in repr(settings)


def test_a_broken_config_file_is_reported_not_fatal(home: Path) -> None:
    (home / "config.toml").write_text("model = [unclosed", encoding="utf-8")
    settings = load_settings(environ={})
    assert any("Ignored" in w for w in settings.warnings)


def test_redact_masks_keys_but_not_words_that_contain_sk_dash() -> None:
    from assistant.config import redact

    text = "task-success rate, risk-adjusted disk-usage-metric; key sk-abc123def456ghi789 and Bearer abcdefghij123"
    assert redact(text) == "task-success rate, risk-adjusted disk-usage-metric; key [redacted] and [redacted]"


def test_a_password_in_the_base_url_is_never_shown_and_does_not_make_a_local_server_remote() -> None:
    from assistant.config import display_url

    local = load_settings(base_url="http://user:pw@localhost:8080/v1", environ={"OPENAI_API_KEY": "sk-real-key-123"})
    assert local.api_key == "sk-real-key-123" and not local.guided and local.warnings == ()
    assert load_settings(base_url="http://u:p@[::1]:8080/v1", environ={}).api_key == "local-no-key"
    assert load_settings(base_url="http://u:p@127.0.0.2/v1", environ={}).api_key == "local-no-key"
    remote = load_settings(base_url="http://user:hunter2@api.example.com/v1", environ={"OPENAI_API_KEY": "sk-x"})
    assert remote.api_key is None
    assert remote.warnings == (
        "http://[redacted]@api.example.com/v1 is plain http and not local: the API key would travel unencrypted, "
        "so it is not sent. Use https, or a local server.",
    )
    # a host that only starts like a local one, or hides one in its user info, is remote
    for url in ("http://localhost.evil.example/v1", "http://127.0.0.1@evil.example/v1", "http://127.0.0.1.nip.io/v1"):
        assert load_settings(base_url=url, environ={}).guided, url
    assert (
        display_url("https://u:p@host.example:8443/v1?api-key=abc")
        == "https://[redacted]@host.example:8443/v1?[redacted]"
    )
    assert display_url("https://host.example/v1") == "https://host.example/v1"
    assert display_url("http://[::1") == "http://[::1"  # not a URL urllib accepts: shown redacted as text
