"""Keep connection secrets out of API responses, job records and logs."""

from __future__ import annotations

import re
from typing import Any

from relgraph.sources import redact

_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:password|passwd|pwd|secret|token|access_key|secret_key|sslpassword)=)[^&]*"
)
_SECRET_KEYS = re.compile(r"(?i)password|passwd|secret|token|access_key|credential")


def redact_uri(uri: str) -> str:
    """``uri`` without a password in its user-info or its query string."""
    return _QUERY_SECRET.sub(r"\1***", redact(uri))


def redact_params(params: dict[str, Any]) -> dict[str, Any]:
    """Job parameters as they may be stored and shown: URIs redacted, secret keys masked."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if _SECRET_KEYS.search(k):
            out[k] = "***"
        elif isinstance(v, str) and "://" in v:
            out[k] = redact_uri(v)
        elif isinstance(v, dict):
            out[k] = redact_params(v)
        else:
            out[k] = v
    return out
