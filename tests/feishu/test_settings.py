"""The FEISHU_* settings of DESIGN.md's configuration table."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import Settings

FEISHU = ("FEISHU_APP_ID", "FEISHU_APP_SECRET", "FEISHU_ENCRYPT_KEY",
          "FEISHU_VERIFICATION_TOKEN", "FEISHU_DOMAIN", "FEISHU_MODE")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FEISHU:
        monkeypatch.delenv(name, raising=False)


def test_feishu_defaults_to_off_the_real_domain_and_the_long_connection() -> None:
    settings = Settings(_env_file=None)
    assert not settings.feishu_enabled
    assert settings.feishu_domain == "https://open.feishu.cn"
    assert settings.feishu_mode == "ws"


def test_feishu_is_enabled_by_the_app_id_and_secret_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEISHU_APP_ID", "cli_a")
    assert not Settings(_env_file=None).feishu_enabled
    monkeypatch.setenv("FEISHU_APP_SECRET", "s3cret")
    monkeypatch.setenv("FEISHU_ENCRYPT_KEY", "k")
    monkeypatch.setenv("FEISHU_MODE", "webhook")
    monkeypatch.setenv("FEISHU_DOMAIN", "https://open.larksuite.com")
    settings = Settings(_env_file=None)
    assert settings.feishu_enabled and settings.feishu_mode == "webhook"
    assert settings.feishu_app_secret is not None
    assert "s3cret" not in repr(settings)  # secrets stay out of logs
    assert settings.feishu_domain == "https://open.larksuite.com"


def test_an_unknown_feishu_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEISHU_MODE", "polling")
    with pytest.raises(ValidationError, match="FEISHU_MODE"):
        Settings(_env_file=None)
