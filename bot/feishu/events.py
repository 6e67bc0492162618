"""Reading Feishu's HTTP callbacks (FEISHU_MODE=webhook): the URL verification challenge, the
signature, the AES decryption and the verification token, as plain functions.

lark-oapi's `EventDispatcherHandler.do` does the same but logs a full traceback for every
request it rejects (anyone can POST to a public URL), so here a rejected request costs one log
line. The decryption is the SDK's own (`AESCipher`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from lark_oapi.core.utils import AESCipher

log = logging.getLogger(__name__)

URL_VERIFICATION = "url_verification"
TIMESTAMP, NONCE, SIGNATURE = ("x-lark-request-timestamp", "x-lark-request-nonce",
                               "x-lark-signature")


class Rejected(Exception):
    """A callback request that is not Feishu's, or cannot be read: answered 4xx, not handled."""


def decode_callback(body: bytes, headers: Mapping[str, str], *, encrypt_key: str | None,
                    verification_token: str | None) -> dict[str, Any]:
    """The event (or URL verification) Feishu POSTed as `body`: decrypted when encrypted, its
    signature checked when an encrypt key is set, its token when a verification token is.

    Raises `Rejected` (after logging one line saying why) for anything else."""
    try:
        return _decode(body, {k.lower(): v for k, v in headers.items()}, encrypt_key,
                       verification_token)
    except Rejected as exc:
        log.warning("Feishu callback rejected: %s", exc)
        raise


def challenge_answer(event: Mapping[str, Any]) -> dict[str, str] | None:
    """What to answer a URL verification (`{"challenge": …}`), or None for an event."""
    if event.get("type") == URL_VERIFICATION:
        return {"challenge": str(event.get("challenge", ""))}
    return None


def event_type(event: Mapping[str, Any]) -> str | None:
    """A schema 2.0 event's type (`im.message.receive_v1`, `card.action.trigger`, …)."""
    header = event.get("header")
    return header.get("event_type") if isinstance(header, Mapping) else None


def _decode(body: bytes, headers: Mapping[str, str], encrypt_key: str | None,
            verification_token: str | None) -> dict[str, Any]:
    signed = all(headers.get(name) for name in (TIMESTAMP, NONCE, SIGNATURE))
    if encrypt_key and signed:  # checked before anything is decrypted
        _check_signature(body, headers, encrypt_key)
    outer = _json(body)
    encrypted = outer.get("encrypt")
    if encrypted:
        if not encrypt_key:
            raise Rejected("an encrypted body, and FEISHU_ENCRYPT_KEY is not set")
        try:
            event = _json(AESCipher(encrypt_key).decrypt_str(encrypted).encode())
        except (ValueError, TypeError) as exc:  # base64, length, padding or UTF-8
            raise Rejected(f"cannot decrypt the body ({exc})") from None
    else:
        event = outer
    if encrypt_key and not signed and event.get("type") != URL_VERIFICATION:
        raise Rejected("no signature headers")  # only the URL verification comes unsigned
    if verification_token:
        header = event.get("header")
        token = header.get("token") if isinstance(header, Mapping) else event.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), verification_token.encode()):
            raise Rejected("wrong verification token")
    return event


def _check_signature(body: bytes, headers: Mapping[str, str], encrypt_key: str) -> None:
    """X-Lark-Signature = sha256(timestamp + nonce + encrypt_key + body), hex."""
    timestamp, nonce, signature = headers[TIMESTAMP], headers[NONCE], headers[SIGNATURE]
    expected = hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Rejected("bad signature")


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("the body is not JSON") from None
    if not isinstance(value, dict):
        raise Rejected("the body is not a JSON object")
    return value
