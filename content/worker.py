"""Parse an uploaded file in a separate process with a time and memory limit, so that a hostile
file (a .docx that unpacks to gigabytes, a PDF that takes minutes) costs the bot nothing but a
refusal: the process is killed when the time is up, and its address space is capped."""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.connection import Connection

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


def _work(connection: Connection, name: str, data: bytes, limits: Limits) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        connection.send(("ok", parse_bounded(name, data, limits)))
    except MemoryError:
        connection.send(("over", f"解析所需内存超过 {limits.memory_bytes // 2**20}MB 的上限"))
    except OverLimit as exc:
        connection.send(("over", str(exc)))
    except UnreadableDocument as exc:
        connection.send(("bad", str(exc)))
    finally:
        connection.close()


def parse_in_worker(name: str, data: bytes, limits: Limits = LIMITS) -> ParsedPlan:
    """Parse in a fresh (spawned) process; killed after `limits.parse_seconds`. Raises
    OverLimit or UnreadableDocument with a Chinese reason. Blocking: call it in a thread from
    async code."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_work, args=(sender, name, data, limits), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(limits.parse_seconds):
            raise OverLimit(f"解析超过 {limits.parse_seconds:g} 秒的时限")
        kind, value = receiver.recv()
    except EOFError:  # the process died (killed by the memory cap, or crashed)
        raise OverLimit(f"解析所需内存超过 {limits.memory_bytes // 2**20}MB 的上限") from None
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    if kind == "ok":
        return value  # type: ignore[no-any-return]
    raise (OverLimit if kind == "over" else UnreadableDocument)(value)
