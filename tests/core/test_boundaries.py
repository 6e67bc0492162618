"""The layout holds: the conversation core, the flows and the services import no messenger
SDK, so one flow serves every platform (issue: one assistant, any messenger)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDKS = ("telegram", "lark_oapi", "dingtalk_stream", "alibabacloud_dingtalk", "aibot")
NEUTRAL = ["bot.core", "bot.channels.base", "bot.scheduler", "bot.services",
           *(f"bot.services.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "bot/services")])),
           *(f"handlers.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "handlers")]))]


def loaded_sdks(modules: list[str]) -> list[str]:
    """The SDK modules a fresh interpreter has loaded after importing `modules`."""
    code = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_the_core_flows_and_services_import_no_messenger_sdk() -> None:
    assert len(NEUTRAL) > 30
    assert loaded_sdks(NEUTRAL) == []


def test_the_walk_would_see_an_sdk() -> None:
    """The check itself: the Telegram adapter does load its SDK."""
    assert "telegram" in loaded_sdks(["bot.channels.telegram"])


def test_a_platform_sdk_is_loaded_only_where_that_platform_is_configured(tmp_path: Path) -> None:
    """`dangjian run` for Telegram alone does not load lark-oapi or dingtalk-stream, which
    slowed every start; configured, Feishu's runner does load its SDK."""
    code = ("import json, sys\nimport bot.web\n"
            "async def serve(core, settings, application=None, platforms=()):\n"
            f"    print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(SDKS)!r})))\n"
            "bot.web.serve = serve\nfrom bot.cli import main\nsys.exit(main(['run']))\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TELEGRAM_BOT_TOKEN": "1:test",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}

    def loaded(**platform: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, env={**env, **platform}, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.splitlines()[-1])

    assert loaded() == ["telegram"]
    assert "lark_oapi" in loaded(FEISHU_APP_ID="cli_test", FEISHU_APP_SECRET="secret")
