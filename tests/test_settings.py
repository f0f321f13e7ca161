"""Process settings from the environment: the contract variables, and a bad value named."""

from __future__ import annotations

import pytest

from bot.adapters.settings import DEFAULT_FRONTIER_MODEL, Settings, SettingsError


def test_settings_default_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.frontier_model == DEFAULT_FRONTIER_MODEL
    assert settings.local_model_dir is None
    assert settings.local_model == "local"
    assert settings.local_context_tokens == 8192


def test_settings_read_the_contract_variables() -> None:
    settings = Settings.from_env(
        {
            "TIERBOT_FRONTIER_MODEL": "claude-opus-5-5",
            "TIERBOT_LOCAL_MODEL_DIR": "/models/Qwen2.5-Coder-14B-exl2/",
            "TIERBOT_LOCAL_CONTEXT_TOKENS": "16384",
            "ANTHROPIC_API_KEY": "sk-test",
        }
    )
    assert settings.frontier_model == "claude-opus-5-5"
    assert settings.local_model == "Qwen2.5-Coder-14B-exl2"
    assert settings.local_context_tokens == 16384
    assert settings.anthropic_api_key == "sk-test"


@pytest.mark.parametrize("bad", ["lots", "-5", "100"])
def test_a_bad_window_names_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match="TIERBOT_LOCAL_CONTEXT_TOKENS"):
        Settings.from_env({"TIERBOT_LOCAL_CONTEXT_TOKENS": bad})


def test_settings_read_github_anthropic_and_gpu_price() -> None:
    settings = Settings.from_env(
        {
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
            "GITHUB_TOKEN": "ghs_x",
            "TIERBOT_GITHUB_API_URL": "https://ghe.example/api/v3",
            "TIERBOT_GPU_HOUR_USD": "0.75",
        }
    )
    assert settings.anthropic_base_url == "http://127.0.0.1:9/"
    assert settings.github_token == "ghs_x"
    assert settings.github_api_url == "https://ghe.example/api/v3"
    assert str(settings.gpu_hour_usd) == "0.75"
    assert Settings.from_env({}).github_api_url == "https://api.github.com"


@pytest.mark.parametrize("bad", ["cheap", "-1", "nan", "inf"])
def test_a_bad_gpu_price_names_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match="TIERBOT_GPU_HOUR_USD"):
        Settings.from_env({"TIERBOT_GPU_HOUR_USD": bad})
