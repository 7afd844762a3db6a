"""The one redaction of secrets, applied before anything is written or shown.

Everything relgraph stores (the metadata DB, manifests, job logs, events, webhooks) or
answers (API responses, CLI errors) passes through :func:`redact` (text) or
:func:`redact_params` (JSON-like values) first. Two layers:

1. Patterns: the password of a URL's user-info (``postgresql://alice:PW@host``) and the
   value of secret-named ``key=value`` / ``key: value`` pairs (``?secret_key=…``,
   ``password=…`` in a libpq connection string, ``aws_secret_access_key: …`` in YAML).
2. Known values: the secrets found in a job's own parameters (:func:`secret_values`),
   replaced wherever they show up, so that a driver's exception that quotes a password
   in an unforeseen format is still caught.

Example:
    >>> redact("postgresql://me:pw@db:5432/shop?password=pw2&schema=s")
    'postgresql://me:***@db:5432/shop?password=***&schema=s'
    >>> redact("s3://b/p?access_key=AK&secret_key=SK failed")
    's3://b/p?access_key=AK&secret_key=*** failed'
    >>> redact("boom: hunter22 was refused", known={"hunter22"})
    'boom: *** was refused'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = "***"

# Names whose value is a secret, as a query parameter, a conninfo pair or a YAML/JSON key.
_SECRET_NAMES = (
    r"password|passwd|pwd|secret|secret_key|secret_access_key|aws_secret_access_key"
    r"|sslpassword|token|session_token|aws_session_token|api_key|apikey|credentials?"
)
# ``name=value`` (URL query, libpq conninfo, command lines): the value up to a separator.
_PAIR = re.compile(rf"(?i)(\b\w*?(?:{_SECRET_NAMES})=)([^&#\s'\"]+)")
# ``name: value`` at the start of a YAML line, or ``"name": "value"`` in JSON text (not
# any "token: …" of a prose message).
_COLON = re.compile(
    rf"(?im)(^\s*(?:-\s+)?\w*?(?:{_SECRET_NAMES})\s*:[ \t]*"
    rf"|[\"']\w*?(?:{_SECRET_NAMES})[\"']\s*:\s*)"
    r"([\"']?)([^\s\"'#,}]+)"
)
# ``scheme://user:password@`` anywhere in a text; the password may hold ':', '/' or '@'
# (up to the last '@' of the word: masking too much is the safe mistake).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@'\"]*:)([^\s'\"]+)(@)")
# Keys of parameter dicts whose whole value is a secret.
_SECRET_KEY = re.compile(rf"(?i)^(?:{_SECRET_NAMES})$|password|secret|token|credential")
# Shorter "known" values are not masked on their own: masking every "1" would garble text.
MIN_KNOWN = 4


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by ``***`` (see the module docstring)."""
    if not text:
        return text
    for value in sorted({v for v in known if len(v) >= MIN_KNOWN}, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _PAIR.sub(lambda m: m.group(1) + MASK, text)
    return _COLON.sub(
        lambda m: m.group(0) if m.group(3) == MASK else m.group(1) + m.group(2) + MASK, text
    )


def is_secret_name(name: str) -> bool:
    """Whether a parameter called ``name`` holds a secret as a whole (``password``, ...)."""
    return bool(_SECRET_KEY.search(name))


def redact_params(value: Any, known: Iterable[str] = ()) -> Any:
    """A JSON-like value with secret-named keys masked and every string redacted."""
    known = frozenset(known)
    if isinstance(value, str):
        return redact(value, known)
    if isinstance(value, dict):
        return {
            k: MASK
            if isinstance(k, str) and is_secret_name(k) and v is not None
            else redact_params(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_params(v, known) for v in value]
    return value


def secret_values(value: Any) -> set[str]:
    """The secrets inside a JSON-like value: URL passwords, secret query values, the
    values of secret-named keys; each also percent-decoded and encoded, as a driver may
    quote either form."""
    found: set[str] = set()
    if isinstance(value, str):
        for m in _USERINFO.finditer(value):
            found.add(m.group(2))
        for m in _PAIR.finditer(value):
            found.add(m.group(2))
        for m in _COLON.finditer(value):
            found.add(m.group(3))
        if "://" in value:
            try:
                pw = urlsplit(value.strip()).password
            except ValueError:
                pw = None
            if pw:
                found.add(pw)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and is_secret_name(k) and isinstance(v, str):
                found.add(v)
            found |= secret_values(v)
    elif isinstance(value, list | tuple):
        for v in value:
            found |= secret_values(v)
    found.discard(MASK)
    return found | {unquote(v) for v in found} | {quote(v, safe="") for v in found}


class RedactFilter(logging.Filter):
    """A logging filter that redacts each record's message (and traceback) in place.

    Put it on a *handler*: a logger's filters do not see records its children propagate.
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self.known = frozenset(known)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message, self.known), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.known)
        record.exc_info = None  # the redacted exc_text stands in for it
        return True


__all__ = ["MASK", "RedactFilter", "is_secret_name", "redact", "redact_params", "secret_values"]
