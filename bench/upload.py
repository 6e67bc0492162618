"""Taps while 10 MB uploads are parsed: the real `dangjian run` against the fake Bot API.

    python bench/upload.py [--seconds S] [--uploads N]

500 members of 50 registered branches tap 签到 on two activities each (500 taps per run, over
`--seconds`), first with nothing else going on, then while a global admin sends `--uploads`
10 MB .docx plans one after another (about 100,000 characters of plan text each, padded to
10 MB with an embedded media part, as a plan with scanned pages is): each is parsed in a worker
process and the index rebuilt in a thread. Printed side by side: the tap-to-answer p50/p99 of
both runs (target p99 <= 200 ms during the uploads), and how long each upload took to be
answered. Then a 96 KB .docx that unpacks to 60 MB (a zip bomb): how fast it is refused.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent / "tests"), str(ROOT.parent / "tests" / "e2e")]

from bad_files import zip_bomb_docx  # noqa: E402
from botproc import BotProcess  # noqa: E402
from fake_bot_api import FakeBotApi, HttpCall  # noqa: E402
from load import (  # noqa: E402
    ADMIN,
    World,
    handler_ms,
    open_activities,
    pct,
    show,
    tap_storm,
    wait_answered,
)

SAMPLE = ROOT.parent / "content" / "plans" / "2026年党建工作要点.txt"
TEN_MB = 10 * 2**20


def ten_mb_docx(copy: int) -> bytes:
    """A real .docx of the sample plan repeated (about 100,000 characters), padded to just
    under 10 MB by an incompressible media part."""
    import docx

    document = docx.Document()
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    document.add_paragraph(f"第{copy}号文件 党建工作要点")
    for _ in range(20):
        for line in lines[1:]:
            document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/media/scan.bin", os.urandom(TEN_MB - len(buffer.getvalue()) - 4096))
    return buffer.getvalue()



def storm_p(api: FakeBotApi, bot: BotProcess, world: World, posts: list[HttpCall],
            seconds: float) -> tuple[float, float, int, float]:
    """Tap-to-answer p50 and p99 (ms) of a storm on these posts, how many were answered, and
    the p99 of the bot's own handling time (ms, from its log)."""
    logged = len(handler_ms(bot.log(), "cb:att:in"))
    storm = tap_storm(api, world, posts, seconds=seconds)
    answers = wait_answered(api, storm.ids, timeout=120)
    waits = [answers[i].at - storm.enqueued[i] for i in storm.ids if i in answers]
    handled = handler_ms(bot.log(), "cb:att:in")[logged:]
    return pct(waits, .5) * 1000, pct(waits, .99) * 1000, len(waits), pct(handled, .99)


def uploads(api: FakeBotApi, files: dict[str, bytes], took: list[float],
            texts: list[str]) -> None:
    """The admin sends each file after the previous one was answered."""
    for name, data in files.items():
        mark = api.mark()
        started = time.monotonic()
        api.upload(name, data, user_id=ADMIN)
        reply = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ADMIN,
                             since=mark, timeout=120)
        took.append(time.monotonic() - started)
        texts.append(reply.text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each tap storm")
    parser.add_argument("--uploads", type=int, default=4, help="10 MB uploads during the storm")
    args = parser.parse_args()
    files = {f"计划{n}.docx": ten_mb_docx(n) for n in range(1, args.uploads + 1)}
    world = World(groups=50, members=10)
    with tempfile.TemporaryDirectory() as folder, FakeBotApi() as api:
        world.enrol(api)
        bot = BotProcess(api, Path(folder), database_url=f"sqlite:///{folder}/upload.db",
                         admins=str(ADMIN), branches=world.ids).start()
        try:
            print(f"\n== taps with and without 10 MB uploads: 500 taps in ~{args.seconds:.0f} s "
                  f"each, {args.uploads} uploads of {len(files['计划1.docx']) / 2**20:.1f} MB, load "
                  f"average {os.getloadavg()[0]:.1f} ==", flush=True)
            posts = open_activities(api, world, per_group=2)
            quiet = storm_p(api, bot, world, posts[0::2], args.seconds)
            took: list[float] = []
            texts: list[str] = []
            sender = threading.Thread(target=uploads, args=(api, files, took, texts))
            sender.start()
            busy = storm_p(api, bot, world, posts[1::2], args.seconds)
            sender.join()
            show("", f"{'no upload':>14} {'during uploads':>16}")
            show("taps answered", f"{quiet[2]:>14} {busy[2]:>16}")
            show("tap-to-answer p50 (ms)", f"{quiet[0]:>14.0f} {busy[0]:>16.0f}")
            show("tap-to-answer p99 (ms, target <= 200)", f"{quiet[1]:>14.0f} {busy[1]:>16.0f}")
            show("bot's own handling p99 (ms)", f"{quiet[3]:>14.0f} {busy[3]:>16.0f}")
            show("each upload answered after (s)", ", ".join(f"{t:.1f}" for t in took))
            show("uploads added", sum("已加入知识库" in t for t in texts))
            bomb = zip_bomb_docx()
            took, texts = [], []
            uploads(api, {"炸弹.docx": bomb}, took, texts)
            show(f"zip bomb ({len(bomb) // 1024} KB -> 60 MB) refused after",
                 f"{took[0]:.2f} s: {texts[0]}")
        finally:
            bot.stop()


if __name__ == "__main__":
    main()
