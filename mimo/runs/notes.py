"""What people say about a run: a free-text note and a few tags, kept in the run's notes.json.

Training never writes this file; the Dashboards page does (through mimo.runs.registry). Tags are
short lowercase words ("baseline", "lr-sweep"), so they read well in a run picker. A missing or
damaged notes.json reads as no note and no tags: it never hides the run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mimo.runs.artifacts import NOTES

MAX_NOTE_CHARS = 2_000  # a note is a few sentences, not a report
MAX_TAGS = 12  # tags per run
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,23}")  # use fullmatch: a word of 1-24 characters
TAG_SEPARATORS = re.compile(r"[\s,]+")  # tags typed in one field: commas or spaces between them


@dataclass(frozen=True)
class RunNotes:
    note: str = ""
    tags: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.note and not self.tags


def parse_tags(tags) -> tuple[str, ...]:
    """Tags from a string ("baseline, lr-sweep") or a list, lowercased, in order, without
    repeats. ValueError, naming them, for tags that are not short words."""
    words = TAG_SEPARATORS.split(tags) if isinstance(tags, str) else list(tags or ())
    cleaned: list[str] = []
    bad = []
    for word in words:
        if not isinstance(word, str):
            bad.append(repr(word))
            continue
        word = word.strip().lower().lstrip("#")
        if not word:
            continue
        if not TAG_PATTERN.fullmatch(word):
            bad.append(repr(word))
        elif word not in cleaned:
            cleaned.append(word)
    if bad:
        raise ValueError(
            f"not a tag: {', '.join(bad)} (a tag is 1-24 lowercase letters, digits, - or _, "
            "starting with a letter or digit)"
        )
    if len(cleaned) > MAX_TAGS:
        raise ValueError(f"{len(cleaned)} tags; a run takes at most {MAX_TAGS}")
    return tuple(cleaned)


def checked_notes(note, tags) -> RunNotes:
    """A RunNotes from what a person typed; ValueError saying what is wrong."""
    if not isinstance(note, str):
        raise ValueError(f"a note is text, not {type(note).__name__}")
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"the note has {len(note):,} characters; at most {MAX_NOTE_CHARS:,}")
    return RunNotes(note, parse_tags(tags))


def read_notes(run_dir: Path) -> RunNotes:
    """The run's note and tags; empty when there are none or the file is damaged."""
    try:
        with open(Path(run_dir) / NOTES, encoding="utf-8") as f:
            data = json.load(f)
        return checked_notes(data.get("note", ""), data.get("tags", ()))
    except (OSError, ValueError, AttributeError):
        return RunNotes()


def notes_json(notes: RunNotes, updated: str) -> dict:
    return {"note": notes.note, "tags": list(notes.tags), "updated": updated}
