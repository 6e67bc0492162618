"""The `dangjian` command line: run, chat, ask, ingest, duties, export."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.config import Settings
from content.ingest import PlansDirError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dangjian", description="党建助手")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="在已配置的各平台运行机器人（Telegram、飞书、钉钉、企业微信）")
    chat = commands.add_parser("chat", help="离线终端对话，无需 token")
    chat.add_argument("--user", type=int, default=10001, help="初始用户 id")
    ask = commands.add_parser("ask", help="回答问题；不给问题时逐行读取标准输入")
    ask.add_argument("question", nargs="*")
    ask.add_argument("--json", action="store_true", dest="as_json")
    ask.add_argument("-k", type=int, default=3)
    ingest = commands.add_parser("ingest", help="把文件或目录加入知识库")
    ingest.add_argument("paths", nargs="+", type=Path)
    duties = commands.add_parser("duties", help="工作职责日历")
    duties.add_argument("--json", action="store_true", dest="as_json")
    export = commands.add_parser("export", help="导出台账 Excel（--csv 另在同一目录写 CSV）")
    export.add_argument("--out", type=Path, required=True, help="工作簿路径，如 台账.xlsx")
    export.add_argument("--csv", action="store_true",
                        help="另写每个工作表一个 CSV：<文件名>-<工作表>.csv（UTF-8 带 BOM）")
    export.add_argument("--chat", type=int, action="append", dest="chats",
                        help="只导出该支部（群 id），可重复；默认全部支部")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        settings = Settings()
    except ValidationError as error:
        print(config_problems(error), file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](settings, args)
    except PlansDirError as error:
        print(f"{error}。请检查 DANGJIAN_PLANS_DIR（不设置时使用自带的示例计划）。", file=sys.stderr)
        return 2


def config_problems(error: ValidationError) -> str:
    """One line per bad variable, named as the operator set it, instead of a traceback."""
    lines = [f"配置有误（环境变量或 .env）：{'.'.join(map(str, problem['loc']))} = "
             f"{str(problem.get('input'))[:80]!r}：{problem['msg']}" for problem in error.errors()]
    return "\n".join(lines)


def run(settings: Settings, _args: argparse.Namespace) -> int:
    """The bot, on every platform configured."""
    telegram = bool(settings.telegram_bot_token
                    and settings.telegram_bot_token.get_secret_value())
    if not (telegram or settings.feishu_enabled or settings.dingtalk_enabled
            or settings.wecom_enabled):
        print(
            "未配置任何平台：请设置 TELEGRAM_BOT_TOKEN，或 FEISHU_APP_ID 与 FEISHU_APP_SECRET，"
            "或 DINGTALK_CLIENT_ID 与 DINGTALK_CLIENT_SECRET，"
            "或 WECOM_BOT_ID 与 WECOM_BOT_SECRET（企业微信智能机器人）；"
            "离线体验请用 `dangjian chat`。"
            " (No platform configured: set TELEGRAM_BOT_TOKEN, FEISHU_APP_ID and"
            " FEISHU_APP_SECRET, DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET, or WECOM_BOT_ID"
            " and WECOM_BOT_SECRET; try `dangjian chat` offline.)",
            file=sys.stderr,
        )
        return 2
    # Quiet the libraries that log as they load, before the imports below.
    for name in ("alembic", "jieba", "httpx"):  # httpx: a line per Feishu or DingTalk call
        logging.getLogger(name).setLevel(logging.WARNING)
    from telegram.error import InvalidToken

    from bot.app import FEATURES, build_application
    from bot.core import Core
    from bot.services import build_services
    from bot.web import Platform, PlatformRefused, replica_name, serve
    from content.worker import WORKER

    log = logging.getLogger("dangjian")
    if settings.open_mode:
        from bot.services.organization import OPEN_MODE_WARNING

        log.warning(OPEN_MODE_WARNING)
    services = build_services(settings)
    WORKER.start()  # the parsers' process imports them now, not during the first upload
    core = Core(services, FEATURES)
    application = build_application(services, core=core, with_updater=False) if telegram else None
    platforms: list[Platform] = []
    # each platform's SDK is loaded only where it is configured (lark-oapi alone is thousands
    # of modules)
    if settings.feishu_enabled:
        from bot.feishu.runner import FeishuRunner

        platforms.append(FeishuRunner(core, settings, replica_name(settings)))
    if settings.dingtalk_enabled:
        from bot.dingtalk.runner import DingTalkRunner

        platforms.append(DingTalkRunner(core, settings, replica_name(settings)))
    if settings.wecom_enabled:
        from bot.wecom.runner import WeComRunner

        platforms.append(WeComRunner(core, settings, replica_name(settings)))
    log.info("platforms: %s", ", ".join(
        (["telegram"] if telegram else []) + [platform.name for platform in platforms]))
    # What is loaded by now (libraries, the dictionary, the index) lives as long as the bot:
    # kept out of the collector's full passes, which an upload's burst of objects sets off and
    # which otherwise stalled every thread for ~100 ms each walking it (measured).
    gc.collect()
    gc.freeze()
    try:
        asyncio.run(serve(core, settings, application=application, platforms=platforms))
    except InvalidToken:
        print("Telegram 拒绝了 TELEGRAM_BOT_TOKEN，请到 @BotFather 核对令牌。"
              " (Telegram rejected TELEGRAM_BOT_TOKEN.)", file=sys.stderr)
        return 2
    except PlatformRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    return 0


def chat(settings: Settings, args: argparse.Namespace) -> int:
    """Offline terminal chat through the same handlers."""
    from bot.chat import run_chat

    return run_chat(settings, first_user=args.user)


def ask(settings: Settings, args: argparse.Namespace) -> int:
    """Answer one question, or one per stdin line."""
    from bot.services.errors import UserError
    from bot.services.qa import QAService
    from storage.db import Database

    db = Database(settings.database_url)
    # a database never migrated holds no documents: answer from the plans directory at once
    qa = QAService(db if db.has_schema() else None, plans_dir=settings.plans_dir)
    qa.load()
    questions = [" ".join(args.question)] if args.question else (
        line.strip() for line in sys.stdin if line.strip()
    )
    for question in questions:
        try:
            result = qa.ask(question, k=args.k)
        except UserError as exc:
            refusal: dict[str, object] = {"question": question, "confidence": "none",
                                          "abstained": True, "answers": [], "error": str(exc)}
            print(json.dumps(refusal, ensure_ascii=False) if args.as_json else str(exc),
                  flush=True)
            continue
        if args.as_json:
            print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
        else:
            print(result.to_text(), flush=True)
    return 0


def ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Add or replace documents in the knowledge base."""
    from bot.services.qa import QAService
    from storage.db import Database

    db = Database(settings.database_url)
    db.migrate()
    report = QAService(db, plans_dir=settings.plans_dir).ingest_paths(
        args.paths, progress=sys.stderr.isatty()
    )
    for name, count in report.added:
        print(f"已加入：{name}（{count} 段）")
    for name, reason in report.failed:
        print(f"无法读取，已跳过：{name}（{reason}）", file=sys.stderr)
    print(f"共加入 {len(report.added)} 个文件，跳过 {len(report.failed)} 个。")
    return 0 if report.added or not report.failed else 1


def export(settings: Settings, args: argparse.Namespace) -> int:
    """Write the ledger workbook (and CSV files) of every branch, or of the given ones."""
    from bot.services import utc_now
    from bot.services.duties import DutyService
    from bot.services.ledger import Scope, duty_titles, meeting_duties
    from bot.services.ledger import export as write_export
    from bot.services.localtime import zone
    from bot.services.qa import QAService
    from storage.db import Database

    db = Database(settings.database_url)
    db.migrate()
    tz = zone(settings.timezone)
    duties = DutyService(QAService(db, plans_dir=settings.plans_dir).plans, tz)
    out = args.out if args.out.suffix.lower() == ".xlsx" else args.out.with_suffix(".xlsx")
    scope = Scope(args.chats, tz, utc_now(), settings.org_name, duty_titles(duties),
                  meeting_duties(duties))
    written = write_export(db, out, scope, with_csv=args.csv)
    for path in written:
        print(f"已写出：{path}")
    return 0


def duties(settings: Settings, args: argparse.Namespace) -> int:
    """The duty calendar of the plans the bot answers from (its directory and the database)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.services.qa import QAService
    from content.duties import duty_calendar
    from storage.db import Database

    db = Database(settings.database_url)
    db.migrate()
    calendar = duty_calendar(QAService(db, plans_dir=settings.plans_dir).plans())
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone)).date()
    items = [duty.to_json(today) for duty in calendar]
    if args.as_json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return 0
    for duty, item in zip(calendar, items, strict=True):
        due = f"｜下次截止 {item['next_due']}" if item["next_due"] else ""
        print(f"[{duty.id}] {duty.title}｜{duty.cadence}｜对象：{duty.audience}{due}\n"
              f"    “{duty.source.quote}”——《{duty.source.doc}》{duty.source.section}")
    print(f"共 {len(calendar)} 项工作职责。")
    return 0


COMMANDS = {"run": run, "chat": chat, "ask": ask, "ingest": ingest, "duties": duties,
            "export": export}


if __name__ == "__main__":
    raise SystemExit(main())
