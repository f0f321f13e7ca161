"""Counts in words: "1 file", "2 files", "no files". Pure, for every text the bot writes."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None, *, none: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless the count is one (`plural`, when the
    plural is not `noun + "s"`). `none`, when given, is the text for a count of zero."""
    if count == 0 and none is not None:
        return none
    word = noun if count == 1 else (plural if plural is not None else f"{noun}s")
    return f"{count} {word}"
