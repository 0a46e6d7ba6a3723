"""What can go wrong when saving or reading collected digits, as exceptions whose text is a
sentence for the person using the app: `str(error)` is shown as is, never a traceback.

    FeedbackError           the base: every failure of the feedback store is one of these
    InvalidExample          the example itself is wrong: a label outside 0-9, a bad shape...
    DuplicateExample        the same picture was just saved with the same label
    StoreFull               the collection reached its size cap (MIMO_FEEDBACK_MAX_MB)
    StoreUnavailable        the database cannot be opened, read or written; nothing is saved

and the words for why a database failed, from SQLite's error names and PostgreSQL's SQLSTATEs.
"""

from __future__ import annotations

import os
from pathlib import Path


class FeedbackError(Exception):
    """A failure of the feedback store; its text is a sentence to show as is."""


class InvalidExample(FeedbackError):
    """The example cannot be saved as given: a label or number outside 0-9, an unknown source
    or ink, or pictures of the wrong shape or range."""


class DuplicateExample(FeedbackError):
    """The same picture was saved again, with the same label as the newest row."""


class StoreFull(FeedbackError):
    """The collection takes all the room it may (MIMO_FEEDBACK_MAX_MB); deleting makes room."""


class StoreUnavailable(FeedbackError):
    """The database cannot be used: corrupt, read-only, on a full disk, a server that does not
    answer, a bad URL, or a newer schema. The text is UNAVAILABLE, a colon, and why. It says
    nothing of saving: reading the collection fails the same way, and the Predict page adds
    that saving is unavailable itself."""


# How every StoreUnavailable sentence begins; why the store is unavailable follows a colon.
UNAVAILABLE = "The digit store is unavailable"


# ---------------------------------------------------------------------------------------------
# Why a database failed, in words: the end of f"{UNAVAILABLE}: ..."


def sqlite_failure(error: Exception, path: Path, busy_timeout_s: float) -> str:
    """Why a SQLite file failed, from the driver's error name (or, before Python 3.11, its
    message)."""
    name = getattr(error, "sqlite_errorname", "")
    text = str(error).lower()
    folder_writable = os.access(path.parent, os.W_OK | os.X_OK)
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        if name == "SQLITE_READONLY_DIRECTORY" or not folder_writable:
            return f"the folder of the database file {path} is read-only."
        return f"the database file {path} is read-only."
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return f"the disk that holds the database file {path} is full."
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or any(
        words in text for words in ("malformed", "not a database")
    ):
        return (
            f"the database file {path} is damaged (it is not a readable SQLite database). "
            "Move it aside to start a new collection; mimo does not write to it."
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        if not folder_writable:
            return f"the database file {path} cannot be opened: its folder is read-only."
        return f"the database file {path} cannot be opened."
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return f"the database file {path} stayed locked by another writer for {busy_timeout_s:g} s."
    if isinstance(error, OSError):
        return f"the database file {path} cannot be used ({error.strerror or error})."
    return f"the database file {path} failed ({error})."


# PostgreSQL error codes (SQLSTATE) and what they mean for the person saving.
POSTGRESQL_FAILURES = {
    "28P01": "the database server at {location} refused the user name or password.",
    "28000": "the database server at {location} refused the login.",
    "3D000": "the database named in {location} does not exist.",
    "42501": "the database user at {location} may not write there.",
    "25006": "the database at {location} is read-only.",
    "53100": "the disk of the database server at {location} is full.",
    "53300": "the database server at {location} has too many connections.",
    "57P01": "the database server at {location} is shutting down.",
    "57P03": "the database server at {location} is starting up or shutting down.",
}


def postgresql_failure(error: Exception, location: str) -> str:
    """Why a PostgreSQL database failed, from its SQLSTATE."""
    code = getattr(error, "sqlstate", None) or ""
    if code in POSTGRESQL_FAILURES:
        return POSTGRESQL_FAILURES[code].format(location=location)
    if not code or code.startswith("08"):  # no answer, or the connection broke
        return f"the database server at {location} cannot be reached."
    return f"the database at {location} failed (SQLSTATE {code})."
