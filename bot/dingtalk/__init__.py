"""The DingTalk (钉钉) adapter: the server API client (api.py) and the Stream connection
(stream.py, on the official SDK dingtalk-stream), run inside `dangjian run` by runner.py.

Nothing here imports the SDK at import time: dingtalk-stream reads its API host from the
environment (DINGTALK_OPENAPI_ENDPOINT) once, when it is imported, so `stream_client` sets it
from our setting first."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.dingtalk.stream import StreamClient

log = logging.getLogger(__name__)

ENDPOINT_VARIABLE = "DINGTALK_OPENAPI_ENDPOINT"


def stream_client(api_base_url: str) -> type[StreamClient]:
    """The Stream client class, its SDK imported with our API host."""
    os.environ[ENDPOINT_VARIABLE] = api_base_url.rstrip("/")
    import dingtalk_stream.utils

    from bot.dingtalk import stream

    if os.environ[ENDPOINT_VARIABLE] != dingtalk_stream.utils.DINGTALK_OPENAPI_ENDPOINT:
        log.warning("dingtalk-stream was imported before its API host was set: it uses %s",
                    dingtalk_stream.utils.DINGTALK_OPENAPI_ENDPOINT)
    return stream.StreamClient
