"""Settings read from the environment (and `.env`), per DESIGN.md's configuration table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.db import DEFAULT_DATABASE_URL

SAMPLE_PLANS_DIR = Path(__file__).resolve().parent.parent / "content" / "plans"


class Settings(BaseSettings):
    """Everything the bot reads from its environment; built once in `main()` and passed down."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True,
        env_ignore_empty=True,  # `NAME=` in .env or compose means "use the default"
    )

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot", alias="TELEGRAM_API_BASE_URL"
    )
    telegram_api_file_url: str = Field(
        default="https://api.telegram.org/file/bot", alias="TELEGRAM_API_FILE_URL"
    )
    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    plans_dir: Path = Field(default=SAMPLE_PLANS_DIR, alias="DANGJIAN_PLANS_DIR")
    timezone: str = Field(default="Asia/Shanghai", alias="DANGJIAN_TIMEZONE")
    org_name: str = Field(default="党组织", alias="DANGJIAN_ORG_NAME")
    """The organization's name, at the head of every sheet of the 台账."""
    admins: Annotated[frozenset[int | str], NoDecode] = Field(
        default=frozenset(), alias="DANGJIAN_ADMINS"
    )
    """Global admins: Telegram ids as numbers, other platforms' as `platform:id` strings."""
    feishu_app_id: str | None = Field(default=None, alias="FEISHU_APP_ID")
    feishu_app_secret: SecretStr | None = Field(default=None, alias="FEISHU_APP_SECRET")
    feishu_encrypt_key: SecretStr | None = Field(default=None, alias="FEISHU_ENCRYPT_KEY")
    feishu_verification_token: SecretStr | None = Field(
        default=None, alias="FEISHU_VERIFICATION_TOKEN"
    )
    feishu_domain: str = Field(default="https://open.feishu.cn", alias="FEISHU_DOMAIN")
    """The Open Platform's origin: https://open.larksuite.com for Lark, a local fake in tests."""
    feishu_mode: Literal["ws", "webhook"] = Field(default="ws", alias="FEISHU_MODE")
    """`ws`: events over the long connection (no public URL); `webhook`: POSTed to
    /feishu/events on PORT."""
    dingtalk_client_id: str | None = Field(default=None, alias="DINGTALK_CLIENT_ID")
    dingtalk_client_secret: SecretStr | None = Field(default=None, alias="DINGTALK_CLIENT_SECRET")
    dingtalk_robot_code: str | None = Field(default=None, alias="DINGTALK_ROBOT_CODE")
    """The robot's code for the robot APIs; unset, the client id (an app's own robot)."""
    dingtalk_api_base_url: str = Field(default="https://api.dingtalk.com",
                                       alias="DINGTALK_API_BASE_URL")
    """The new API and the Stream gateway (a local fake in tests)."""
    dingtalk_oapi_base_url: str = Field(default="https://oapi.dingtalk.com",
                                        alias="DINGTALK_OAPI_BASE_URL")
    """The old API, for media upload."""
    wecom_bot_id: str | None = Field(default=None, alias="WECOM_BOT_ID")
    wecom_bot_secret: SecretStr | None = Field(default=None, alias="WECOM_BOT_SECRET")
    wecom_ws_url: str = Field(default="wss://openws.work.weixin.qq.com", alias="WECOM_WS_URL")
    """The AI bot's long connection (a local fake in tests)."""
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    port: int = Field(default=8080, alias="PORT")
    concurrent_updates: int | None = Field(
        default=None, ge=1, le=1000, alias="DANGJIAN_CONCURRENT_UPDATES"
    )
    """Updates handled at once; unset, sized at start from the round trip to Telegram
    (bot/ordering.py)."""

    @property
    def open_mode(self) -> bool:
        """No global admins: every group is a branch (DESIGN.md, Organization)."""
        return not self.admins

    @property
    def feishu_enabled(self) -> bool:
        """Feishu runs when both the app id and its secret are set."""
        return bool(self.feishu_app_id and self.feishu_app_secret)

    @property
    def dingtalk_enabled(self) -> bool:
        """DingTalk runs when both the client id and its secret are set."""
        return bool(self.dingtalk_client_id and self.dingtalk_client_secret)

    @property
    def wecom_enabled(self) -> bool:
        """WeCom's AI bot runs when both its bot id and secret are set."""
        return bool(self.wecom_bot_id and self.wecom_bot_secret)

    @field_validator("admins", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> object:
        """Accept `DANGJIAN_ADMINS=12345,feishu:ou_x` as well as a list."""
        if isinstance(value, str):
            value = [part for part in value.replace(" ", "").split(",") if part]
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(admin_id(str(part)) for part in value)
        return value


def admin_id(text: str) -> int | str:
    """One DANGJIAN_ADMINS entry: a Telegram id (`12345` or `telegram:12345`) as a number, so
    it matches Telegram's user ids; another platform's as `platform:id`."""
    platform, _, user = text.rpartition(":")
    if platform.lower() in ("", "telegram", "tg") and user.lstrip("-").isdigit():
        return int(user)
    if platform and user and platform.isalnum():
        return f"{platform.lower()}:{user}"
    raise ValueError("应为逗号分隔的用户 id：Telegram 用户 id（数字），其他平台写作 平台:id，"
                     "如 12345,feishu:ou_abc")
