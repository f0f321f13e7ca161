"""Build well-formed git diffs from a few lines of description, for tests that need a change."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edit:
    """One file's change: removed lines then added lines in a single hunk after some context."""

    path: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=lambda: ["# context"])
    start: int = 10
    status: str = "modified"  # modified | added | deleted


def git_diff(*edits: Edit) -> str:
    """A `git diff` text for the edits, with hunk counts that match the bodies."""
    out: list[str] = []
    for edit in edits:
        out.append(f"diff --git a/{edit.path} b/{edit.path}\n")
        if edit.status == "added":
            out.append("new file mode 100644\nindex 0000000..1111111\n")
            out.append(f"--- /dev/null\n+++ b/{edit.path}\n")
            out.append(f"@@ -0,0 +1,{len(edit.added)} @@\n")
            out.extend(f"+{line}\n" for line in edit.added)
            continue
        if edit.status == "deleted":
            out.append("deleted file mode 100644\nindex 1111111..0000000\n")
            out.append(f"--- a/{edit.path}\n+++ /dev/null\n")
            out.append(f"@@ -1,{len(edit.removed)} +0,0 @@\n")
            out.extend(f"-{line}\n" for line in edit.removed)
            continue
        out.append("index 1111111..2222222 100644\n")
        out.append(f"--- a/{edit.path}\n+++ b/{edit.path}\n")
        old = len(edit.context) + len(edit.removed)
        new = len(edit.context) + len(edit.added)
        out.append(f"@@ -{edit.start},{old} +{edit.start},{new} @@\n")
        out.extend(f" {line}\n" for line in edit.context)
        out.extend(f"-{line}\n" for line in edit.removed)
        out.extend(f"+{line}\n" for line in edit.added)
    return "".join(out)


def code_lines(n: int, name: str = "value") -> list[str]:
    """`n` distinct lines of plausible Python with some logic in them."""
    lines = []
    for i in range(n):
        if i % 4 == 0:
            lines.append(f"    if {name}_{i} and check_{i}({name}):")
        elif i % 4 == 1:
            lines.append(f"        {name}_{i} = compute_{i}({name}, {i})")
        elif i % 4 == 2:
            lines.append(f"    for item_{i} in {name}_{i}:")
        else:
            lines.append(f"        results.append(item_{i} * {i})")
    return lines


def prose_lines(n: int) -> list[str]:
    """`n` lines of documentation prose."""
    return [f"Line {i} of the guide explains how the option number {i} behaves." for i in range(n)]
