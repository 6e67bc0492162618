"""The DINGTALK_* settings of DESIGN.md's configuration table, and `dangjian run`'s word when
no platform is configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings

DINGTALK = ("DINGTALK_CLIENT_ID", "DINGTALK_CLIENT_SECRET", "DINGTALK_ROBOT_CODE",
            "DINGTALK_API_BASE_URL", "DINGTALK_OAPI_BASE_URL")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in DINGTALK:
        monkeypatch.delenv(name, raising=False)


def test_dingtalk_defaults_to_off_and_the_real_hosts() -> None:
    settings = Settings(_env_file=None)
    assert not settings.dingtalk_enabled and settings.dingtalk_robot_code is None
    assert settings.dingtalk_api_base_url == "https://api.dingtalk.com"
    assert settings.dingtalk_oapi_base_url == "https://oapi.dingtalk.com"


def test_dingtalk_is_enabled_by_the_client_id_and_secret_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DINGTALK_CLIENT_ID", "dingabc")
    assert not Settings(_env_file=None).dingtalk_enabled
    monkeypatch.setenv("DINGTALK_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("DINGTALK_API_BASE_URL", "http://127.0.0.1:9")
    settings = Settings(_env_file=None)
    assert settings.dingtalk_enabled and settings.dingtalk_api_base_url == "http://127.0.0.1:9"
    assert "s3cret" not in repr(settings)


def test_run_without_any_platform_names_dingtalk_too(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("TELEGRAM_BOT_TOKEN", "FEISHU_APP_ID", "FEISHU_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run"]) == 2
    assert "DINGTALK_CLIENT_ID 与 DINGTALK_CLIENT_SECRET" in capsys.readouterr().err


def test_the_sdk_is_imported_on_our_api_host() -> None:
    """dingtalk-stream reads DINGTALK_OPENAPI_ENDPOINT once, at import: `stream_client` sets it
    from DINGTALK_API_BASE_URL first (a fresh interpreter, as `dangjian run` starts)."""
    probe = ("import os, sys\n"
             "os.environ.pop('DINGTALK_OPENAPI_ENDPOINT', None)\n"
             "import bot.cli, bot.dingtalk.runner\n"
             "assert 'dingtalk_stream' not in sys.modules\n"
             "from bot.dingtalk import stream_client\n"
             "stream_client('http://127.0.0.1:9/')\n"
             "import dingtalk_stream.stream as s\n"
             "print(s.DingTalkStreamClient.OPEN_CONNECTION_API)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "http://127.0.0.1:9/v1.0/gateway/connections/open"
