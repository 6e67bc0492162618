"""`dangjian duties [--json]`: the calendar of the plans the QA answers from (the plans directory
and the documents stored by `dangjian ingest`), in DESIGN.md's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from real_plans import PLANS, needs_real_plans

from bot.cli import main
from bot.config import SAMPLE_PLANS_DIR


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with its own database; the plans directory is the shipped sample."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'dangjian.db'}")
    monkeypatch.setenv("DANGJIAN_PLANS_DIR", str(SAMPLE_PLANS_DIR))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def real_plans(environment: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DANGJIAN_PLANS_DIR", str(PLANS))
    return environment


def duties_json(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["duties", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@needs_real_plans
def test_json_lists_every_duty_in_the_design_shape(real_plans: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Built-in cadence plus the 26 duties of the two real plans, each with its quote."""
    items = duties_json(capsys)
    assert len(items) == 5 + 24
    for item in items:
        assert set(item) == {"id", "title", "period", "times", "audience", "next_due", "source"}
        assert item["period"] in ("week", "month", "two-months", "quarter", "half-year", "year",
                                  "once", "unspecified")
        assert isinstance(item["times"], int) and item["times"] >= 1
        assert set(item["source"]) == {"doc", "section", "quote"} and item["source"]["quote"]
    liaison = next(i for i in items if "联系点检查指导" in i["title"])
    assert (liaison["period"], liaison["times"]) == ("year", 2)
    assert liaison["source"]["doc"] == "000_9744bd6702739719"


def test_an_ingested_plan_brings_its_duties(environment: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A plan added with `dangjian ingest` is read from the database, as the QA reads it."""
    plan = environment / "新计划.txt"
    plan.write_text("2027年党建工作要点\n一、组织建设\n1.规范组织生活。各支部每两个月召开一次组织生活会。\n",
                    encoding="utf-8")
    assert main(["ingest", str(plan)]) == 0
    items = duties_json(capsys)
    new = [i for i in items if i["source"]["doc"] == "2027年党建工作要点"]
    assert [(i["title"], i["period"], i["times"]) for i in new] == [
        ("支部召开组织生活会", "two-months", 1)]


@needs_real_plans
def test_text_output(real_plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json: one line per duty with its cadence, then the plan's own words."""
    assert main(["duties"]) == 0
    out = capsys.readouterr().out
    assert "每年至少2次｜对象：班子成员" in out and "共 29 项工作职责。" in out
