"""Private keys wherever a text starts or ends in them: a body shown as context after the line a
pull request edits, a key that one hunk begins and the next continues, a body with no armour;
and the bodies of certificates, which are public, left alone.

The fake key lines are made at run time from a seeded generator; none is or was a real key.
"""

from __future__ import annotations

import random
import string

from bot.core.diff import parse
from bot.core.secrets.leaks import expose
from bot.core.secrets.redaction import find_in_hunks, find_secrets, redact_text

B64 = string.ascii_letters + string.digits + "+/"


def body(lines: int, *, seed: str, width: int = 64) -> list[str]:
    """Key-body lines: base64 of the given width, the last one shorter and padded."""
    rng = random.Random(seed)
    full = ["".join(rng.choice(B64) for _ in range(width)) for _ in range(lines - 1)]
    return [*full, "".join(rng.choice(B64) for _ in range(30)) + "=="]


def hunk(old: int, new: int, lines: list[str]) -> str:
    before = sum(1 for line in lines if line[:1] in " -")
    after = sum(1 for line in lines if line[:1] in " +")
    return f"@@ -{old},{before} +{new},{after} @@\n" + "\n".join(lines) + "\n"


def diff(path: str, *hunks: str) -> str:
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n" + "".join(hunks)


def shown(text: str) -> str:
    """Everything a model would see of a diff: its redacted lines."""
    exposure = expose(parse(text))
    return "\n".join(line for f in exposure.changes.files for h in f.hunks for line in h.lines)


def test_a_committed_keys_body_shown_as_context_is_redacted() -> None:
    """Editing the line after a committed key shows its last lines and its END as context."""
    key = body(4, seed="context")
    text = diff(
        "deploy/keys.py",
        hunk(
            20,
            20,
            [*(f" {line}" for line in key), " -----END RSA PRIVATE KEY-----'''", "+TIMEOUT = 30"],
        ),
    )
    seen = shown(text)
    assert all(line not in seen for line in key)
    assert "-----END RSA PRIVATE KEY-----'''" not in seen
    assert "+TIMEOUT = 30" in seen
    assert expose(parse(text)).leaks == ()  # nothing added: nothing to comment on


def test_everything_before_an_end_line_that_looks_like_key_material_is_the_key() -> None:
    key = body(2, seed="end")
    text = "\n".join(
        ["x = 1", *(f'    "{line}\\n"' for line in key), '    "-----END PRIVATE KEY-----"']
    )
    out = redact_text(text, "app/k.py")
    assert out.startswith("x = 1\n")
    assert all(line not in out for line in key)


def test_a_key_begun_in_one_hunk_and_continued_in_the_next_is_redacted_in_both() -> None:
    key = body(6, seed="split")
    text = diff(
        "app/k.py",
        hunk(
            1,
            1,
            [" x = 1", "+KEY = '''-----BEGIN RSA PRIVATE KEY-----", f"+{key[0]}", f"+{key[1]}"],
        ),
        hunk(
            40,
            43,
            [f"+{key[4]}", f"+{key[5]}", "+-----END RSA PRIVATE KEY-----'''", "+y = 2", " z = 3"],
        ),
    )
    seen = shown(text)
    assert all(line not in seen for line in key)
    assert "+y = 2" in seen
    assert " z = 3" in seen
    # One comment for the key, on its BEGIN line, not another where it continues.
    assert [(leak.line, leak.kinds) for leak in expose(parse(text)).leaks] == [
        (2, ("private-key",))
    ]


def test_a_single_body_line_continuing_a_key_from_the_previous_hunk_is_redacted() -> None:
    key = body(8, seed="single")
    texts = [
        "KEY = <<~PEM\n  -----BEGIN RSA PRIVATE KEY-----\n  " + key[0],
        "  " + key[7] + "\nPEM\ndef f; end",
    ]
    first, second = find_in_hunks(texts, "app/k.rb")
    assert [s.kind for s in first] == ["private-key"]
    assert texts[1][second[0].start : second[0].end] == "  " + key[7]
    assert find_secrets(texts[1], "app/k.rb") == ()  # alone, one short line says nothing


def test_a_key_that_ended_between_hunks_does_not_swallow_the_next_hunks_code() -> None:
    key = body(3, seed="ended")
    texts = ["-----BEGIN PRIVATE KEY-----\n" + key[0], "def main():\n    run()"]
    _, second = find_in_hunks(texts, "k.py")
    assert second == ()


def test_key_body_lines_without_armour_are_key_material() -> None:
    key = body(8, seed="bare")
    for text in (
        "\n".join(['BLOB = """', *key, '"""']),
        "\n".join(['{"k": [', *(f'  "{line}",' for line in key), "]}"]),
        "\n".join(["tls:", "  key: |", *(f"    {line}" for line in key)]),
    ):
        out = redact_text(text, "app/config")
        assert all(line not in out for line in key), out
        (found,) = find_secrets(text, "app/config")
        assert found.kind == "private-key"


def test_key_bodies_named_as_keys_are_reported_and_anonymous_ones_only_redacted() -> None:
    key = body(5, seed="named")
    named = find_secrets(
        "\n".join(["SIGNING_KEY = (", *(f'    "{line}"' for line in key), ")"]), "a.py"
    )
    anonymous = find_secrets(
        "\n".join(["BLOB = (", *(f'    "{line}"' for line in key), ")"]), "a.py"
    )
    assert [(s.kind, s.sure) for s in named] == [("private-key", True)]
    assert [(s.kind, s.sure) for s in anonymous] == [("private-key", False)]


def test_an_openssh_body_in_a_dotenv_file_is_a_private_key() -> None:
    value = (
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
        + body(1, seed="o")[0]
    )
    (found,) = find_secrets(f"DEPLOY_KEY={value}", "deploy/.env")
    assert (found.kind, found.sure) == ("private-key", True)
    assert value not in redact_text(f"DEPLOY_KEY={value}", "deploy/.env")


def test_certificate_bodies_are_public_and_left_alone() -> None:
    cert = body(6, seed="cert")
    for text in (
        "\n".join([*cert, "-----END CERTIFICATE-----", "# renewed"]),
        "\n".join(["-----BEGIN CERTIFICATE-----", *cert, "-----END CERTIFICATE-----"]),
        "\n".join(['CA_BUNDLE = """', *cert, '"""']),
    ):
        assert find_secrets(text, "certs/ca.pem") == ()


def test_the_armour_alone_in_code_that_handles_keys_is_not_a_key() -> None:
    text = "\n".join(
        [
            'if line.startswith("-----BEGIN RSA PRIVATE KEY-----"):',
            "    kind = parse_header(line)",
            "    return decode_body(lines)",
        ]
    )
    assert find_secrets(text, "pem.py") == ()
