"""The `dangjian` command line as an operator meets it: run without a token, ask, ingest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dangjian(*args: str, tmp_path: Path, stdin: str = "", **env: str):
    environment = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    environment.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", **env})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, text=True,
                          capture_output=True, env=environment, cwd=tmp_path, timeout=120)


def test_run_without_a_token_explains_itself_in_one_line(tmp_path):
    result = dangjian("run", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_settings_are_named_in_one_line_each_without_a_traceback(tmp_path):
    result = dangjian("duties", tmp_path=tmp_path, DANGJIAN_ADMINS="12,张三",
                      DANGJIAN_CONCURRENT_UPDATES="0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    admins, concurrency = result.stderr.strip().splitlines()
    assert admins.startswith("配置有误") and "DANGJIAN_ADMINS" in admins and "用户 id" in admins
    assert "DANGJIAN_CONCURRENT_UPDATES" in concurrency and "'0'" in concurrency
    empty = dangjian("duties", tmp_path=tmp_path, DANGJIAN_CONCURRENT_UPDATES="", PORT="")
    assert empty.returncode == 0, empty.stderr  # an empty value means the default


def test_ask_json_follows_the_contract_for_answers_refusals_and_abstentions(tmp_path):
    questions = "主题党日多久开展一次\n加班费怎么算\n" + "党" * 600 + "\n"
    result = dangjian("ask", "--json", "-k", "2", tmp_path=tmp_path, stdin=questions)
    assert result.returncode == 0, result.stderr
    answered, abstained, refused = (json.loads(line) for line in result.stdout.splitlines())
    assert answered["question"] == "主题党日多久开展一次"
    assert answered["confidence"] == "high" and answered["abstained"] is False
    assert 1 <= len(answered["answers"]) <= 2
    first = answered["answers"][0]
    assert set(first) == {"text", "source", "score"} and len(first["text"]) <= 600
    assert first["source"].startswith("《2026年党建工作要点》")
    assert answered["answers"][0]["score"] >= answered["answers"][-1]["score"]
    assert abstained == {"question": "加班费怎么算", "confidence": "none", "abstained": True,
                         "answers": []}
    assert refused["abstained"] and refused["confidence"] == "none"
    assert "问题太长" in refused["error"]


def test_ask_on_a_new_database_answers_from_the_plans_without_creating_tables(tmp_path):
    """`ask` only reads: a database never migrated holds no documents, so it is left alone
    (migrating it would cost the first answer a second and a half)."""
    from storage.db import Database

    asked = dangjian("ask", "--json", "主题党日多久开展一次", tmp_path=tmp_path)
    assert json.loads(asked.stdout)["confidence"] == "high"
    database = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    assert not database.has_schema()
    database.dispose()


def test_ask_json_abstains_exactly_when_the_confidence_is_none(tmp_path):
    questions = ["三会一课多久开一次", "食堂几点开饭", "公积金缴存比例", "主题党日咋安排的",
                 "意识形态这块我们支部该怎么弄", "今年重点抓啥"]
    result = dangjian("ask", "--json", tmp_path=tmp_path, stdin="\n".join(questions))
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == questions
    for answer in answers:
        assert answer["confidence"] in ("high", "low", "none")
        assert answer["abstained"] == (answer["confidence"] == "none")
        assert (answer["answers"] == []) == answer["abstained"]


def test_ingest_reports_unreadable_files_by_name_and_keeps_the_rest(tmp_path):
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "good.txt").write_text(
        "2031年要点\n一、青年工作\n1.开展青年读书会。每两个月举办一次青年读书会。\n", "utf-8")
    (plans / "bad.docx").write_bytes(b"not a docx")
    result = dangjian("ingest", str(plans), tmp_path=tmp_path)
    assert result.returncode == 0
    assert "已加入：good.txt" in result.stdout and "共加入 1 个文件，跳过 1 个" in result.stdout
    assert "bad.docx" in result.stderr and "Traceback" not in result.stderr
    asked = dangjian("ask", "--json", "青年读书会多久办一次", tmp_path=tmp_path)
    assert "每两个月" in json.loads(asked.stdout)["answers"][0]["text"]


def test_storage_and_content_never_import_telegram():
    """Rules stay testable without Telegram: the lower layers do not know it exists."""
    for package in ("storage", "content"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text("utf-8")
            assert "import telegram" not in source and "from telegram" not in source, path


def test_a_missing_or_empty_plans_directory_stops_with_its_name(tmp_path):
    """Never a silently empty knowledge base: run, ask and duties refuse to start."""
    (tmp_path / "empty").mkdir()
    for folder, reason in ((tmp_path / "missing", "不存在"), (tmp_path / "empty", "没有")):
        for command in (["ask", "党费怎么交"], ["duties"], ["run"]):
            result = dangjian(*command, tmp_path=tmp_path, DANGJIAN_PLANS_DIR=str(folder),
                              TELEGRAM_BOT_TOKEN="1:x")
            assert result.returncode == 2, command
            assert reason in result.stderr and str(folder) in result.stderr
            assert "Traceback" not in result.stderr


def test_ingest_refuses_a_file_over_a_bound_and_stores_nothing(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes("一、总则\n".encode() + "党建。".encode() * (4 * 2**20))
    result = dangjian("ingest", str(big), tmp_path=tmp_path)
    assert result.returncode == 1
    assert "跳过" in result.stderr and "10MB 的上限" in result.stderr
    assert "共加入 0 个文件" in result.stdout
