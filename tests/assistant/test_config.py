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
