"""The `--mongo` URL: which schemes it takes, how it is shown, and the observer it becomes.

The URL may hold a password. It reaches a worker through its environment or its stdin, never its
command line (which any local user can read), and every message shows it with the password
replaced, so it never leaves the process that was given it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MONGO_SCHEMES = ("mongodb://", "mongodb+srv://")


def redacted(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}" if user else f"***@{hosts}"))


def hide_in(text: str, url: str | None) -> str:
    """`text` with the URL, or its password alone, replaced: for error messages from pymongo and Sacred."""
    if not url:
        return text
    text = text.replace(url, redacted(url))
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def mongo_observer(url: str):
    """`mongodb://HOST:PORT/DB` (or `mongodb+srv://`) -> Sacred's MongoObserver writing to database DB."""
    from gapbench.benchmark.cell.sacred_compat import MongoObserver

    db = urlsplit(url).path.lstrip("/")
    return MongoObserver(url=url, **({"db_name": db} if db else {}))  # no DB in the URL: Sacred's default
