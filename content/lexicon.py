"""How members talk about the plan: colloquial words mapped to the plan's own terms, question
words that carry no content, and the intents (frequency, number, who) a question can express.

This is domain knowledge written by hand on purpose; it is general to Party-building plans,
not to any one document or question.
"""

from __future__ import annotations

import re
from pathlib import Path

# Words that only shape a question; they never decide which passage answers it.
STOPWORDS = frozenset(
    (Path(__file__).resolve().parent / "dict" / "stopwords.txt").read_text("utf-8").split()
)

COLLOQUIAL_FILE = Path(__file__).resolve().parent / "dict" / "colloquial.tsv"


def _load_colloquial(path: Path) -> dict[str, list[tuple[str, float]]]:
    """`口语<TAB>正式用语:权重,…` lines -> {colloquial: [(formal, weight), …]}."""
    lexicon: dict[str, list[tuple[str, float]]] = {}
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, values = line.split("\t", 1)
        targets = [value.rsplit(":", 1) for value in values.split(",") if value.strip()]
        lexicon[key.strip().lower()] = [(formal.strip(), float(weight)) for formal, weight in targets]
    return lexicon


# colloquial / everyday wording -> the plan's terms (weights below 1 for looser matches)
COLLOQUIAL = _load_colloquial(COLLOQUIAL_FILE)
_KEYS_BY_FIRST_CHAR: dict[str, list[str]] = {}
for _key in COLLOQUIAL:
    _KEYS_BY_FIRST_CHAR.setdefault(_key[0], []).append(_key)


def colloquial_keys_in(text: str) -> list[tuple[str, int, int]]:
    """Lexicon keys said in `text`, with the span they cover. Keys of three or more characters
    also match with a filler character or two inside, as people type them (乱告一状 says
    乱告状)."""
    found: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for start, char in enumerate(text):
        for key in _KEYS_BY_FIRST_CHAR.get(char, ()):
            if key in seen:
                continue
            end = start + len(key) if text.startswith(key, start) else (
                _loose_end(key, text, start) if len(key) >= 3 else None)
            if end is not None:
                seen.add(key)
                found.append((key, start, end))
    return found


def _loose_end(key: str, text: str, start: int) -> int | None:
    """Where `key` ends in `text` if each next character follows within two places of the
    previous one, with at most two extra characters in all."""
    position, extra = start, 0
    for char in key[1:]:
        offset = text[position + 1 : position + 3].find(char)
        extra += offset
        if offset < 0 or extra > 2:
            return None
        position += offset + 1
    return position + 1


FREQUENCY_WORDS = ("多久", "多长时间", "隔多久", "几次", "多少次", "频率", "频次", "周期", "多经常",
                   "一年几", "每年几", "什么时候", "啥时候", "何时", "多会儿", "定期")
NUMBER_WORDS = ("几个", "几条", "几项", "几年", "几种", "几大", "多少", "几", "数量")
WHO_WORDS = ("谁", "哪个部门", "哪个单位", "什么部门", "由谁", "谁来", "谁负责", "牵头")
PART_ASK_WORDS = ("哪些方面", "主要写", "写了哪些", "主要干", "干啥", "干什么", "都管", "管哪些",
                  "包括哪些", "包含哪些", "有哪些内容", "有啥内容", "主要内容", "讲了什么", "讲了啥",
                  "主要讲", "讲什么", "讲啥", "哪几方面", "是什么工程", "概括", "内容是", "部分",
                  "这块", "那块", "一块", "板块", "总体上", "整体上", "大致", "大概", "抓什么",
                  "抓啥", "主要抓", "干些啥", "做些什么", "包括什么", "涵盖", "哪些工作")
# words a question about a part uses to point at the part, not to say what it is about
PART_NOISE = frozenset(["部分", "内容", "方面", "工作", "块", "总体", "整体", "大致", "大概", "包括",
                        "包含", "事", "管", "讲", "写", "要点", "有些"])

# intent words say what kind of answer is wanted, not what it is about
QUESTION_WORDS = frozenset(
    [w for w in FREQUENCY_WORDS + NUMBER_WORDS + WHO_WORDS if w not in ("定期", "牵头")]
    + ["几倍", "几次", "多久一次", "多长", "哪类", "哪种", "啥样", "咋做", "咋办", "怎么办", "要求"]
)



def is_question_word(word: str) -> bool:
    """Words that ask rather than say: 多久, 几届, 几回, 多少钱…"""
    return word in QUESTION_WORDS or (len(word) <= 3 and word.startswith(("几", "多少")))


FREQUENCY_PATTERN = re.compile(
    r"每[年月周季日天半]|每半年|每季度|每两|每个|定期|至少|不少于|不低于|不超过|"
    r"[0-9一二两三四五六七八九十]+次|一年一|年度|逐月|隔月|半年"
)
NUMBER_PATTERN = re.compile(r"[0-9一二两三四五六七八九十百]+[个条项年大种名批家次支]|“[^”]{1,12}”")
WHO_PATTERN = re.compile(r"牵头|负责|由[^，。；]{1,12}(?:部门|委员会|党委|支部|组织)|主体责任|报送")


def question_intents(question: str) -> set[str]:
    """Which kind of sentence would answer: frequency, number, who (possibly several)."""
    intents = set()
    if any(word in question for word in FREQUENCY_WORDS):
        intents.add("frequency")
    if any(word in question for word in NUMBER_WORDS) and "frequency" not in intents:
        intents.add("number")
    if any(word in question for word in WHO_WORDS):
        intents.add("who")
    return intents


INTENT_PATTERNS = {
    "frequency": FREQUENCY_PATTERN,
    "number": NUMBER_PATTERN,
    "who": WHO_PATTERN,
}
