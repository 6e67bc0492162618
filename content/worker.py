"""Parse an uploaded file in a separate process with a time and memory limit, so that a hostile
file (a .docx that unpacks to gigabytes, a PDF that takes minutes) costs the bot nothing but a
refusal: the process is killed when the time is up, and its address space is capped; the event
loop and its thread never do the work. The running bot's index is rebuilt there too (after an
upload): seconds of CPU in a thread of the bot would slow every thread answering members, as
they share one interpreter lock."""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from content.ingest import (
    LIMITS,
    Limits,
    OverLimit,
    ParsedPlan,
    UnreadableDocument,
    parse_plan,
    read_bounded,
)
from content.search import KnowledgeBase
from content.tokenize import Tokenizer

INDEX_SECONDS = 120.0
"""How long building the index in the worker may take (a very large knowledge base)."""


def parse_bounded(name: str, data: bytes, limits: Limits = LIMITS) -> ParsedPlan:
    """The plan in a file, read within every bound (the work the worker process does)."""
    return parse_plan(name, read_bounded(name, data, limits))


def _serve(connection: Connection, memory_bytes: int) -> None:
    """The worker's loop: one file (or one index) at a time, within the limits it is sent
    with; at a lower priority than the bot, which keeps answering members while it works."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.nice(10)
    tokenizers: dict[tuple[str, ...], Tokenizer] = {}
    while True:
        try:
            request = connection.recv()
        except EOFError:  # the bot went away
            return
        work = "建立索引" if request[0] == "index" else "解析"
        try:
            if request[0] == "index":
                _, plans, words = request
                if words not in tokenizers:
                    tokenizers[words] = Tokenizer(words)
                connection.send(("ok", KnowledgeBase(plans, tokenizers[words])))
                continue
            _, name, data, limits = request
            connection.send(("ok", parse_bounded(name, data, limits)))
        except MemoryError:
            connection.send(("over", f"{work}所需内存超过 {memory_bytes // 2**20}MB 的上限"))
        except OverLimit as exc:
            connection.send(("over", str(exc)))
        except UnreadableDocument as exc:
            connection.send(("bad", str(exc)))


class ParseWorker:
    """One long-lived worker process (spawned, so it shares nothing with the bot), parsing one
    file or building one index at a time; killed and replaced when a job overruns its time or
    dies of the memory cap. Long-lived because starting Python and importing the parsers costs
    more CPU than parsing a plan."""

    def __init__(self, memory_bytes: int = LIMITS.memory_bytes) -> None:
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None

    def start(self) -> None:
        """Start the process now (it imports the parsers in the background)."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> Connection:
        if self._process is None or not self._process.is_alive() or self._connection is None:
            self._stop()
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe()
            self._process = context.Process(target=_serve, args=(theirs, self.memory_bytes),
                                            daemon=True, name="dangjian-parse")
            self._process.start()
            theirs.close()
            self._connection = ours
        return self._connection

    def _stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join()
            self._process = None

    def parse(self, name: str, data: bytes, limits: Limits = LIMITS) -> ParsedPlan:
        """The plan in a file, or OverLimit / UnreadableDocument with a Chinese reason.
        Blocking: call it in a thread from async code."""
        kind, value = self._ask(("parse", name, data, limits), limits.parse_seconds, "解析")
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        raise (OverLimit if kind == "over" else UnreadableDocument)(value)

    def index(self, plans: list[ParsedPlan], tokenizer: Tokenizer,
              seconds: float = INDEX_SECONDS) -> KnowledgeBase:
        """The index of these plans, built in the worker (with a tokenizer equal to
        `tokenizer`) so that its CPU does not compete with the bot's threads for the
        interpreter, then given `tokenizer` to answer with. OverLimit when the worker fails or
        overruns. Blocking: call it in a thread from async code."""
        kind, value = self._ask(("index", plans, tuple(tokenizer.extra_words)), seconds,
                                "建立索引")
        if kind != "ok":
            raise OverLimit(value)
        return value.attach(plans, tokenizer)  # type: ignore[no-any-return]

    def _ask(self, request: tuple[object, ...], seconds: float,
             work: str) -> tuple[str, object]:
        with self._lock:
            connection = self._ensure()
            try:
                connection.send(request)
                if not connection.poll(seconds):
                    self._stop()
                    raise OverLimit(f"{work}超过 {seconds:g} 秒的时限")
                return connection.recv()  # type: ignore[no-any-return]
            except (EOFError, OSError):  # killed by the memory cap, or crashed
                self._stop()
                raise OverLimit(
                    f"{work}所需内存超过 {self.memory_bytes // 2**20}MB 的上限") from None

    def close(self) -> None:
        with self._lock:
            self._stop()


WORKER = ParseWorker()


def parse_in_worker(name: str, data: bytes, limits: Limits = LIMITS) -> ParsedPlan:
    """Parse in the process's worker (see ParseWorker)."""
    return WORKER.parse(name, data, limits)


def index_in_worker(plans: list[ParsedPlan], tokenizer: Tokenizer) -> KnowledgeBase:
    """Build an index in the process's worker (see ParseWorker.index)."""
    return WORKER.index(plans, tokenizer)
