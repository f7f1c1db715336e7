"""Text shown to users: credentials in URLs masked, echoed values bounded."""

from __future__ import annotations

import re

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<userinfo>[^/@\s]+)@")
"""The scheme is bounded so that a long value is scanned in linear time."""
ELLIPSIS = "…"


def redact(text: str) -> str:
    """`https://user:token@host/x` -> `https://***@host/x` anywhere in `text`."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}***@", text)


def shorten(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{ELLIPSIS} ({len(text)} characters)"
