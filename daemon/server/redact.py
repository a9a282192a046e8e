"""Secrets in URLs, hidden wherever a URL is shown: status, logs, dead-letter reasons.

Webhook URLs often carry credentials (``https://user:pass@host/`` or
``?token=…``), and exception texts from the HTTP client repeat them. :func:`redact`
is applied to any text before it leaves the process; it masks each URL it finds
with :func:`redact_url`.
"""

from __future__ import annotations

import re

MASK = "***"

# A scheme, "://", then everything up to whitespace, a quote or an angle bracket:
# URLs inside exception reprs are delimited by those.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """One URL (``scheme://…``, taken whole) with user info, query values and fragment masked."""
    scheme, _, rest = url.partition("://")
    # The authority ends at the first "/", "?" or "#"; userinfo is what precedes its last "@".
    end = len(rest)
    for sep in "/?#":
        at = rest.find(sep)
        if at != -1:
            end = min(end, at)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        # A user alone is as often a token as a name (https://TOKEN@host): hide all of it.
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    path, hash_, fragment = tail.partition("#")
    path, question, query = path.partition("?")
    if question:
        pairs = []
        for pair in query.split("&"):
            key, eq, _ = pair.partition("=")
            pairs.append(f"{key}={MASK}" if eq else MASK if key else "")
        query = "&".join(pairs)
    if hash_ and fragment:
        fragment = MASK
    return f"{scheme}://{authority}{path}{question}{query}{hash_}{fragment}"


def redact(text: str) -> str:
    """``text`` with every URL's user, password, query values and fragment replaced by ***.

    Query keys stay (``?token=***``): they tell an operator which parameter it was.
    Text without ``://`` is answered as is, without a regular-expression search.
    """
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
