"""Parse an uploaded file in a separate process with a time and memory limit, so that a hostile
file (a .docx that unpacks to gigabytes, a PDF that takes minutes) costs the bot nothing but a
refusal: the process is killed when the time is up, and its address space is capped; the event
loop and its thread never do the work."""

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


def parse_bounded(name: str, data: bytes, limits: Limits = LIMITS) -> ParsedPlan:
    """The plan in a file, read within every bound (the work the worker process does)."""
    return parse_plan(name, read_bounded(name, data, limits))


def _serve(connection: Connection, memory_bytes: int) -> None:
    """The worker's loop: one file at a time, within the limits it is sent with; at a lower
    priority than the bot, which keeps answering members while it parses."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.nice(10)
    while True:
        try:
            name, data, limits = connection.recv()
        except EOFError:  # the bot went away
            return
        try:
            connection.send(("ok", parse_bounded(name, data, limits)))
        except MemoryError:
            connection.send(("over", f"解析所需内存超过 {memory_bytes // 2**20}MB 的上限"))
        except OverLimit as exc:
            connection.send(("over", str(exc)))
        except UnreadableDocument as exc:
            connection.send(("bad", str(exc)))


class ParseWorker:
    """One long-lived worker process (spawned, so it shares nothing with the bot), parsing one
    file at a time; killed and replaced when a parse overruns its time or dies of the memory
    cap. Long-lived because starting Python and importing the parsers costs more CPU than
    parsing a plan."""

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
        with self._lock:
            connection = self._ensure()
            try:
                connection.send((name, data, limits))
                if not connection.poll(limits.parse_seconds):
                    self._stop()
                    raise OverLimit(f"解析超过 {limits.parse_seconds:g} 秒的时限")
                kind, value = connection.recv()
            except (EOFError, OSError):  # killed by the memory cap, or crashed
                self._stop()
                raise OverLimit(
                    f"解析所需内存超过 {self.memory_bytes // 2**20}MB 的上限") from None
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        raise (OverLimit if kind == "over" else UnreadableDocument)(value)

    def close(self) -> None:
        with self._lock:
            self._stop()


WORKER = ParseWorker()


def parse_in_worker(name: str, data: bytes, limits: Limits = LIMITS) -> ParsedPlan:
    """Parse in the process's worker (see ParseWorker)."""
    return WORKER.parse(name, data, limits)
