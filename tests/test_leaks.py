"""What a change exposes, over the project's corpus of planted secrets: the redacted copy holds
none of them and keeps every line where it was, and each secret an added line commits gets one
comment of the bot's own, on that line, without the value."""

from __future__ import annotations

import pytest

from bot.core.answer_schema import Severity
from bot.core.diff import ChangeSet, Side, parse
from bot.core.secrets.leaks import expose, leak_comments
from bot.core.secrets.redaction import placeholder
from tests.builders import Edit, git_diff
from tests.secret_corpus import DIFFS, diff_text, leaked, planted, survivors


def everything(changes: ChangeSet) -> str:
    """All the text of a change: paths, hunk headers and lines."""
    out = []
    for change in changes.files:
        out += [change.path, change.old_path or ""]
        for hunk in change.hunks:
            out += [hunk.section, *hunk.lines]
    return "\n".join(out)


@pytest.mark.parametrize("name", DIFFS)
def test_no_planted_secret_survives_in_the_redacted_change(name: str) -> None:
    changes = parse(diff_text(name))
    assert leaked(everything(changes), name)  # the manifest's values are really in the diff
    exposure = expose(changes)
    assert leaked(everything(exposure.changes), name) == []
    assert exposure.redactions >= len({p.value for p in planted(name)})


@pytest.mark.parametrize("name", DIFFS)
def test_the_redacted_change_keeps_every_line_and_mark_in_place(name: str) -> None:
    changes = parse(diff_text(name))
    redacted = expose(changes).changes
    for before, after in zip(changes.files, redacted.files, strict=True):
        assert after.path == before.path
        for old, new in zip(before.hunks, after.hunks, strict=True):
            assert len(new.lines) == len(old.lines)
            assert [line[:1] for line in new.lines] == [line[:1] for line in old.lines]
            assert list(new.numbered())[-1][1:3] == list(old.numbered())[-1][1:3]


@pytest.mark.parametrize("name", DIFFS)
def test_each_planted_secret_is_replaced_by_its_kind_on_its_line(name: str) -> None:
    redacted = expose(parse(diff_text(name))).changes
    for secret in planted(name):
        change = redacted.file(secret.path)
        assert change is not None
        side = "+ " if secret.side == "RIGHT" else "- "
        lines = {
            (new if secret.side == "RIGHT" else old): text
            for hunk in change.hunks
            for kind, old, new, text in hunk.numbered()
            if kind in side
        }
        assert placeholder(secret.kind) in lines[secret.line], secret


@pytest.mark.parametrize("name", DIFFS)
def test_each_committed_secret_gets_one_comment_on_its_added_line(name: str) -> None:
    exposure = expose(parse(diff_text(name)))
    comments = leak_comments(exposure.leaks)
    wanted = {(p.path, p.line) for p in planted(name) if p.commented}
    assert sorted((c.path, c.line) for c in comments) == sorted(wanted)  # one each, no more
    kinds = {(leak.path, leak.line): leak.kinds for leak in exposure.leaks}
    for secret in planted(name):
        if secret.commented:
            assert secret.kind in kinds[(secret.path, secret.line)], secret
    for comment in comments:
        assert (comment.side, comment.severity, comment.category) == (
            Side.RIGHT,
            Severity.CRITICAL,
            "security",
        )
        assert "Rotate it" in comment.body
        assert "history" in comment.body
        assert "secret store" in comment.body
        assert leaked(comment.body) == []
        assert len(comment.fingerprint) == 16


def test_a_removed_secret_is_redacted_but_not_commented() -> None:
    name = "service-config.diff"
    (old,) = [p for p in planted(name) if p.side == "LEFT"]
    exposure = expose(parse(diff_text(name)))
    assert old.value not in everything(exposure.changes)
    # The one comment near it is on the new line 2, for the password that replaced it.
    (leak,) = [leak for leak in exposure.leaks if (leak.path, leak.line) == (old.path, 2)]
    assert leak.kinds == ("password",)
    assert all(leak.code != f"DB_PASSWORD={old.value}" for leak in exposure.leaks)


def test_a_key_block_gets_one_comment_on_its_first_added_line() -> None:
    exposure = expose(parse(diff_text("keys-and-clients.diff")))
    keys = [leak for leak in exposure.leaks if leak.path in ("deploy/id_rsa", "certs/signing.pem")]
    assert [(leak.path, leak.line, leak.kinds) for leak in keys] == [
        ("certs/signing.pem", 3, ("private-key",)),  # BEGIN is context: the changed body line
        ("deploy/id_rsa", 1, ("private-key",)),  # a new key file: its BEGIN line
    ]


def test_strings_that_only_look_random_reach_the_model_as_they_are() -> None:
    text = "\n".join(everything(expose(parse(diff_text(name))).changes) for name in DIFFS)
    for values in survivors().values():
        for value in values:
            assert value in text


def test_the_comment_is_the_same_on_every_push_and_does_not_carry_the_value() -> None:
    first = git_diff(Edit(".env", added=["SESSION_SECRET=4f9c2a7be1d84c0a9e55b3f2"], start=3))
    moved = git_diff(
        Edit(".env", context=["PORT=8000"], added=["SESSION_SECRET=4f9c2a7be1d84c0a9e55b3f2"])
    )
    other = git_diff(Edit(".env", added=["SESSION_SECRET=0b8e6d1c3a5f7e9d2c4b6a8f"], start=3))
    (a,) = leak_comments(expose(parse(first)).leaks)
    (b,) = leak_comments(expose(parse(moved)).leaks)
    (c,) = leak_comments(expose(parse(other)).leaks)
    assert a.line != b.line
    assert a.fingerprint == b.fingerprint == c.fingerprint  # made from the redacted line
    assert "4f9c2a7be1d84c0a9e55b3f2" not in a.body


def test_a_secret_in_a_file_path_or_hunk_header_is_redacted() -> None:
    token = "ghp_" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe"
    text = git_diff(Edit(f"keys/{token}.txt", added=["x = 1"])).replace(
        "@@ -10,1 +10,2 @@", f'@@ -10,1 +10,2 @@ GH = "{token}"'
    )
    exposure = expose(parse(text))
    assert token not in everything(exposure.changes)
    assert exposure.changes.files[0].path == "keys/<redacted:github-token>.txt"
    assert exposure.leaks == ()  # nothing in an added line


def test_a_diff_error_that_quotes_a_line_does_not_quote_its_secret() -> None:
    from bot.core.diff import DiffError

    password = "Kq2Lm5Nx7" + "!Vb3rT"
    broken = (
        "diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -1,2 +1,2 @@\n+A=1\n"
        f"SESSION_SECRET={password}\n"
    )
    with pytest.raises(DiffError) as caught:
        parse(broken)
    assert "SESSION_SECRET=<redacted:secret>" in str(caught.value)
    assert password not in str(caught.value)
