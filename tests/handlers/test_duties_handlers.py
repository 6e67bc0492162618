"""/duties on the real plans (one short message, the branch's own duties, the plans' year named),
/help naming the plan followed, and /done in a private chat."""

from __future__ import annotations

from pathlib import Path

from attendance_bot import answers, attendance_bot, texts
from attendance_world import BRANCH, OTHER, OTHER_SECRETARY, SECRETARY
from real_plans import PLANS, needs_real_plans
from sqlmodel import select

from bot.config import Settings
from storage.models import DutyCompletion, RoleGrant

MEETING = "83e743"  # the built-in 支委会, every month
LIMIT = 1500


def real(tmp_path: Path) -> Settings:
    return Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'dangjian.db'}", DANGJIAN_ADMINS="900",
                    DANGJIAN_PLANS_DIR=str(PLANS), _env_file=None)


@needs_real_plans
async def test_duties_on_the_real_plans_is_one_short_message(tmp_path: Path) -> None:
    """The branch's own duties, one line each, in ONE message of at most 1,500 characters;
    the 2022 plans are named as what the branch goes by; nothing of the 党委 or 班子成员;
    each duty once (意识形态 reporting was listed twice)."""
    async with attendance_bot(real(tmp_path)) as bot:
        sent = [c for c in await bot.say("/duties", 5, BRANCH) if c.method == "sendMessage"]
        everything = "\n".join(texts(await bot.say("/duties 全部", 5, BRANCH)))
        help_text = texts(await bot.say("/help", 5, BRANCH))[0]
    [listing] = sent
    print(f"/duties on the real plans: {len(listing.text)} characters\n{listing.text}")
    assert len(listing.text) <= LIMIT
    assert "按《000_9744bd6702739719》（2022年）、《001_fca248cf79800dd9》（2022年）执行" in listing.text
    assert "按《000_9744bd6702739719》（2022年）" in help_text
    lines = [line for line in listing.text.splitlines() if line.startswith(("•", "❗", "✅"))]
    assert len(lines) == 7  # 三会一课 and 主题党日, 支部书记 轮训, 预备党员 培训
    assert not any(word in line for line in lines for word in ("党委", "班子成员", "中心组"))
    assert len(listing.buttons) == len(lines)
    assert everything.count("意识形态工作") == 2  # 研究 (定期) and 汇报 (每半年): once each
    assert "【党委】" in everything and "【班子成员】" in everything


async def test_done_in_private_for_the_secretary_s_branches(settings: Settings) -> None:
    """A secretary of one branch marks done privately at once; one of two branches picks the
    branch from buttons; a member is refused."""
    async with attendance_bot(settings) as bot:
        await bot.say("大家好", SECRETARY, BRANCH)  # seen in the group, where Telegram says admin
        [one] = texts(await bot.say(f"/done {MEETING} 已召开", SECRETARY))
        assert one.startswith("✅ 已登记完成（") and "召开支部委员会会议" in one
        await bot.say("大家好", OTHER_SECRETARY, BRANCH)
        with bot.services.db.session() as session:
            session.add(RoleGrant(chat_id=BRANCH, user_id=OTHER_SECRETARY))
        bot.make_admin(OTHER, OTHER_SECRETARY)
        await bot.say("大家好", OTHER_SECRETARY, OTHER)
        calls = await bot.say(f"/done {MEETING}", OTHER_SECRETARY)
        [prompt] = [c for c in calls if c.buttons]
        assert "请选择为哪个支部登记" in prompt.text and len(prompt.buttons) == 2
        label = next(label for label, data in prompt.buttons if data.endswith(f"{OTHER}:{MEETING}"))
        tapped = await bot.tap(prompt, label, user_id=OTHER_SECRETARY)
        assert "已登记完成" in texts(tapped, chat_id=OTHER_SECRETARY)[0]
        assert answers(tapped) == [""]
        [refused] = texts(await bot.say(f"/done {MEETING}", 7))
        assert "只有支部书记" in refused
        with bot.services.db.session() as session:
            done = session.exec(select(DutyCompletion.chat_id, DutyCompletion.duty_id)).all()
        assert sorted(done) == sorted([(BRANCH, MEETING), (OTHER, MEETING)])
