"""Secrets in text: every kind is found whole and replaced by its labelled placeholder, what
only looks like one (hashes, UUIDs, placeholders, references, types) is left alone, and the
outbound scrub keeps the bot's hidden markers.

The fake values are built from pieces so that this file itself does not read as leaking them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.diff import parse
from bot.core.secrets.redaction import (
    HIGH_ENTROPY,
    describe,
    find_secrets,
    placeholder,
    redact,
    redact_text,
    reported,
    scrub,
    scrub_bodies,
)

AWS_ID = "AKIA" + "QX7RT2MZK4PLW9VB"
AWS_SECRET = "3qAAEW8+HZqJLGgm" + "nvmdCUpbWYiuk/xaP+PWtlhG"
STRIPE = "sk_" + "live_51" + "vcWRwr2quvSquety6W3d0dej5uPgePCUg1AeWyKPAIvS857M49VD"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJzdWIiOiJzdmMtYmlsbGluZyIsInJvbGUiOiJhZG1pbiJ9"
    + ".Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe_u-AbCdEf"
)
PEM_BODY = [
    "MIIEpAIBAAKCAQEA" + "1x3Kq9ZbV7mN2pL5tR8wY4cF6hJ0gD2sA7eQ9uI3oP1kM",
    "q8Zr3nT5vX2mK9pL4wB7yC1dF6gH0jA5sD8fG2hJ4kL6zX9cV1bN3mQ5wE7rT0y",
    "Hd8Jk2Lm4Nb6Vc8Xz0Qw2Er4Ty6Ui8Op==",
]
PEM = ["-----BEGIN RSA PRIVATE KEY-----", *PEM_BODY, "-----END RSA PRIVATE KEY-----"]


def only(text: str, path: str = "") -> tuple[str, str]:
    """The one secret in `text`: its kind and its value."""
    (found,) = find_secrets(text, path)
    return found.kind, text[found.start : found.end]


@pytest.mark.parametrize(
    ("path", "line", "kind", "value"),
    [
        (
            "app/aws.py",
            f'client = boto3.client("s3", aws_access_key_id="{AWS_ID}")',
            "aws-access-key",
            AWS_ID,
        ),
        ("settings.py", f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"', "aws-secret-key", AWS_SECRET),
        ("billing.py", f'stripe.api_key = "{STRIPE}"', "stripe-key", STRIPE),
        ("auth.ts", f"const token = '{JWT}';", "jwt", JWT),
        (
            "a.py",
            'KEY = "sk-' + "ant-api03-" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe_u-AbCd" + '"',
            "anthropic-key",
            "sk-" + "ant-api03-" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe_u-AbCd",
        ),
        (
            "a.py",
            'openai.api_key = "sk-' + "proj-" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe" + '"',
            "openai-key",
            "sk-" + "proj-" + "Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw6Ys0Pa2Qe",
        ),
        (
            "a.js",
            "const maps = 'AIza" + "SyD9tSrke72PouQMnMXa7eZSW0jkFMBWYqz';",
            "google-api-key",
            "AIza" + "SyD9tSrke72PouQMnMXa7eZSW0jkFMBWYqz",
        ),
        (
            ".gitlab-ci.yml",
            "  GITLAB_TOKEN: glpat-" + "xR3kP9mQ2vL8nB4wT6yZ",
            "gitlab-token",
            "glpat-" + "xR3kP9mQ2vL8nB4wT6yZ",
        ),
        (
            "ci.py",
            'GH = "ghp_' + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + '"',
            "github-token",
            "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        ),
        (
            "ci.py",
            'GH = "github_pat_' + "11ABCDEFG0" + "a" * 60 + '"',
            "github-token",
            "github_pat_" + "11ABCDEFG0" + "a" * 60,
        ),
        (
            "bot.py",
            'SLACK = "xoxb-' + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx" + '"',
            "slack-token",
            "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        (
            "mail.py",
            'SG = "SG.'
            + "abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
            + '"',
            "sendgrid-key",
            "SG." + "abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ),
        (
            "sms.py",
            'sid = "AC' + "0f1e2d3c4b5a69788796a5b4c3d2e1f0" + '"',
            "twilio-key",
            "AC" + "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ),
        (
            ".npmrc",
            "//registry.npmjs.org/:_authToken=npm_" + "abcdefghijklmnopqrstuvwxyz0123456789",
            "npm-token",
            "npm_" + "abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        (
            "bot.js",
            "const discord = 'M"
            + "TIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0"
            + "';",
            "discord-token",
            "M" + "TIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0",
        ),
        (
            ".env",
            "HF_TOKEN=hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
            "huggingface-token",
            "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
        ),
        (
            "oauth.json",
            '"client_secret": "GOCSPX-' + "RmLjA8cBN3GB523juOzl15dsU_8I" + '"',
            "google-oauth-secret",
            "GOCSPX-" + "RmLjA8cBN3GB523juOzl15dsU_8I",
        ),
        (
            "api.py",
            'headers = {"Authorization": "Bearer ' + "abcDEF123456ghiJKL789mnoPQR" + '"}',
            "bearer-token",
            "abcDEF123456ghiJKL789mnoPQR",
        ),
    ],
)
def test_each_token_format_is_found_whole_with_its_kind(
    path: str, line: str, kind: str, value: str
) -> None:
    assert only(line, path) == (kind, value)
    assert redact_text(line, path) == line.replace(value, placeholder(kind))


@pytest.mark.parametrize(
    ("scheme", "password"),
    [
        ("postgresql", "S3cr3t!pass"),
        ("redis", "pbNf2MnLib3AGxpwu5lg"),
        ("amqp", "Gu3st-pw$x"),
        ("mongodb+srv", "Pa$$w0rd#1"),
        ("mysql", "p@ss:w0rd"),
        ("https", "hunter2x9"),
    ],
)
def test_only_the_password_of_a_url_is_redacted_whatever_the_scheme(
    scheme: str, password: str
) -> None:
    line = f"DATABASE_URL={scheme}://app_user:{password}@db.internal:5432/app"
    assert redact_text(line, ".env") == (
        f"DATABASE_URL={scheme}://app_user:<redacted:url-password>@db.internal:5432/app"
    )


def test_a_url_with_no_user_still_loses_its_password() -> None:
    assert redact_text("redis://:Zq8vN2kLm5@cache:6379/0") == (
        "redis://:<redacted:url-password>@cache:6379/0"
    )


@pytest.mark.parametrize(
    ("line", "kind", "value"),
    [
        ("SESSION_SECRET=4f9c2a7be1d84c0a9e55b3f2", "secret", "4f9c2a7be1d84c0a9e55b3f2"),
        (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "aws-secret-key", AWS_SECRET),
        ("export DB_PASSWORD=Winter2023!x", "password", "Winter2023!x"),
        ('API_KEY="a8f3k2m9q1w7e5r4"', "api-key", "a8f3k2m9q1w7e5r4"),
        ("GITHUB_WEBHOOK_SECRET = 'Zq8vN2kLm5xR'", "secret", "Zq8vN2kLm5xR"),
    ],
)
def test_dotenv_lines_lose_the_whole_value_after_a_secret_name(
    line: str, kind: str, value: str
) -> None:
    assert only(line, "config/.env.production") == (kind, value)


@pytest.mark.parametrize(
    ("path", "line", "value"),
    [
        ("creds.json", '  "password": "SRxZImjuw3ZEtK!"', "SRxZImjuw3ZEtK!"),
        ("values.yaml", "  password: Kq2Lm5Nx7!Vb3", "Kq2Lm5Nx7!Vb3"),
        ("settings.py", 'DB_PASSWORD = "Kq2Lm5Nx7!Vb3"', "Kq2Lm5Nx7!Vb3"),
        ("main.go", 'password := "Kq2Lm5Nx7!Vb3"', "Kq2Lm5Nx7!Vb3"),
        ("config.php", "'password' => 'Kq2Lm5Nx7!Vb3',", "Kq2Lm5Nx7!Vb3"),
        ("settings.xml", "<password>Kq2Lm5Nx7&amp;3</password>", "Kq2Lm5Nx7&amp;3"),
        ("Db.cs", 'var c = "Server=db;User Id=sa;Password=Kq2Lm5Nx7!Vb3;";', "Kq2Lm5Nx7!Vb3"),
    ],
)
def test_passwords_in_json_yaml_code_and_xml_are_found(path: str, line: str, value: str) -> None:
    assert only(line, path) == ("password", value)


def test_a_private_key_is_redacted_from_begin_to_end_across_lines() -> None:
    text = "Here is the deploy key:\n" + "\n".join(PEM) + "\nKeep it safe."
    result = redact(text)
    assert result.text == "Here is the deploy key:\n<redacted:private-key>\nKeep it safe."
    assert [s.kind for s in result.found] == ["private-key"]


def test_a_private_key_in_a_diff_is_redacted_through_its_line_marks() -> None:
    lines = [f"+{line}" for line in PEM]
    text = "\n".join([" context", *lines, " after"])
    assert redact_text(text) == " context\n+<redacted:private-key>\n after"


def test_a_private_key_written_on_one_line_or_in_string_pieces_is_redacted() -> None:
    one_line = '"private_key": "' + "\\n".join(PEM) + '\\n",'
    assert redact_text(one_line, "sa.json") == '"private_key": "<redacted:private-key>",'
    pieces = "\n".join(["KEY = (", *(f'    "{line}\\n"' for line in PEM), ")"])
    out = redact_text(pieces, "keys.py")
    assert all(part not in out for part in PEM_BODY)
    assert out.startswith('KEY = (\n    "<redacted:private-key>')


def test_a_private_key_with_no_end_is_redacted_to_the_end_of_the_text() -> None:
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(PEM_BODY[:2])
    assert redact_text(text) == "<redacted:private-key>"


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("a.py", 'PINNED = "3f786850e387550fdab836ed7e6dc881de23001b"'),
        ("a.py", 'tenant = "550e8400-e29b-41d4-a716-446655440000"'),
        ("a.py", 'digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"'),
        (
            "package-lock.json",
            '"integrity": "sha512-'
            + "Q" * 20
            + 'xYz0AbCdEfGhIjKlMnOpQrStUvWx+/0123456789abcdef=="',
        ),
        ("a.py", 'password = os.environ["DB_PASSWORD"]'),
        ("a.py", "def login(password: str, token: Optional[str] = None) -> Session:"),
        ("a.py", "password = request.form.get('password')"),
        ("a.py", "token = self.token"),
        ("ci.yml", "password: ${{ secrets.DB_PASSWORD }}"),
        ("compose.yml", "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}"),
        (".env.example", "DB_PASSWORD=<your password>"),
        (".env.example", "SECRET_KEY=changeme"),
        (".env", "TOKEN_TTL_SECONDS=3600"),
        (".env", "PASSWORD_FILE=/run/secrets/db"),
        ("README.md", "Set `password: required` in the config."),
        ("docs.md", "Connect with postgresql://user:password@localhost/app for local work."),
        ("a.ts", "const MAX_TOKENS = 4096;"),
        ("a.py", 'sort_key = "created_at"'),
    ],
)
def test_what_only_looks_like_a_secret_is_left_alone(path: str, line: str) -> None:
    assert find_secrets(line, path) == ()


def test_a_random_quoted_string_is_redacted_but_not_reported() -> None:
    value = "q8Zr3nT5vX2mK9pL4wB7yC1dF6gH0jA5"
    assert only(f'blob = "{value}"', "a.py") == (HIGH_ENTROPY, value)
    assert not reported(HIGH_ENTROPY)
    assert reported("aws-secret-key")


def test_a_hex_secret_beside_a_secret_name_is_found() -> None:
    line = 'webhook_secret = "7a2492c944c3f1e5a41541c4568ab08b"'
    assert only(line, "a.py") == ("secret", "7a2492c944c3f1e5a41541c4568ab08b")


def test_redacting_twice_changes_nothing_more() -> None:
    text = f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}\nurl = 'redis://:Zq8vN2kLm5@cache'\n" + "\n".join(
        PEM
    )
    once = redact_text(text, ".env")
    assert redact_text(once, ".env") == once
    assert find_secrets(once, ".env") == ()


def test_every_kind_has_words_for_a_comment() -> None:
    assert describe("aws-secret-key") == "an AWS secret access key"
    assert describe("private-key") == "a private key"
    assert describe("something-new") == "a secret"


def test_scrub_keeps_the_bots_markers_and_removes_secrets_around_them() -> None:
    marker = "<!-- tierbot:fp=0123456789abcdef -->"
    text = f"Rotate `{STRIPE}` now.\n\n{marker}"
    assert scrub(text) == f"Rotate `<redacted:stripe-key>` now.\n\n{marker}"


def test_scrub_bodies_cleans_only_the_bodies_of_a_github_payload() -> None:
    """Placeholders in bodies are escaped, so GitHub shows them instead of dropping an unknown
    HTML tag."""
    payload = {
        "commit_id": "3f786850e387550fdab836ed7e6dc881de23001b",
        "body": f"key: {AWS_ID}",
        "comments": [{"path": "a.py", "line": 3, "body": f"uses {JWT}"}],
    }
    assert scrub_bodies(payload) == {
        "commit_id": "3f786850e387550fdab836ed7e6dc881de23001b",
        "body": "key: &lt;redacted:aws-access-key&gt;",
        "comments": [{"path": "a.py", "line": 3, "body": "uses &lt;redacted:jwt&gt;"}],
    }


_SHA_OR_UUID = re.compile(r"[0-9a-f]{7,64}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.I)


def test_real_diffs_keep_their_hashes_and_are_rarely_redacted(CORPUS: Path) -> None:
    """Measured over the shared corpus of 70 real diffs (96k lines): a handful of finds, all
    credentials in tests (test TLS keys, `token=…` in test URLs, a test login's password), fewer
    still reported as committed, and no git SHA, digest or UUID among them."""
    finds: list[tuple[str, str, str]] = []
    sure = 0
    for diff in sorted((CORPUS / "diffs").glob("*.diff")):
        for change in parse(diff.read_bytes()).files:
            for hunk in change.hunks:
                text = "\n".join(raw[1:] for raw in hunk.lines)
                found = find_secrets(text, change.path)
                finds += [(change.path, s.kind, text[s.start : s.end]) for s in found]
                sure += sum(s.sure and reported(s.kind) for s in found)
    assert len(finds) <= 20, finds
    assert sure <= 10, finds
    assert not [f for f in finds if _SHA_OR_UUID.fullmatch(f[2])]
    assert {kind for _, kind, _ in finds} <= {
        "private-key",
        "secret",
        "token",
        "url-password",
        "password",
    }


def test_a_key_pasted_into_a_sentence_is_redacted_but_identifiers_in_code_are_not() -> None:
    token = "pbNf2MnLib3AGx" + "pwu5lg16H4"
    assert redact_text(f"Try {token}.") == f"Try {placeholder(HIGH_ENTROPY)}."
    assert find_secrets(f"result = {token}(value)", "app.py") == ()
    assert find_secrets("See UserProfile2SettingsComponent and test_requests_with_unicode_2.") == ()


@pytest.mark.parametrize(
    ("path", "line", "kind", "value"),
    [
        ("wp-config.php", "define('DB_PASSWORD', 'Kq2Lm5Nx7!Vb3');", "password", "Kq2Lm5Nx7!Vb3"),
        (
            "app.py",
            'os.environ.setdefault("API_KEY", "a8f3k2m9q1w7e5r4z6x")',
            "api-key",
            "a8f3k2m9q1w7e5r4z6x",
        ),
        (
            ".netrc",
            "machine api.github.com login octo password Kq2Lm5Nx7Vb3",
            "password",
            "Kq2Lm5Nx7Vb3",
        ),
        (
            "deploy.sh",
            "curl -u deploy:Kq2Lm5Nx7Vb3 https://repo.internal/upload",
            "password",
            "Kq2Lm5Nx7Vb3",
        ),
        (
            "config.json",
            '{"auths": {"ghcr.io": {"auth": "ZGVwbG95OktxMkxtNU54N1ZiMw=="}}}',
            "secret",
            "ZGVwbG95OktxMkxtNU54N1ZiMw==",
        ),
        (
            "app.js",
            "const STRIPE_KEY = 'rk9Kq2Lm5Nx7Vb3Cd9Fg1Hj4';",
            "secret",
            "rk9Kq2Lm5Nx7Vb3Cd9Fg1Hj4",
        ),
        (
            "k8s.yaml",
            "  tls.key: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlF",
            "private-key",
            "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlF",
        ),
        (
            "api.py",
            'headers={"Authorization": "Basic ZGVwbG95OmhlbGxv"}',
            "bearer-token",
            "ZGVwbG95OmhlbGxv",
        ),
        (
            "mail.py",
            'MAILGUN = "key-' + "0123456789abcdef0123456789abcdef" + '"',
            "mailgun-key",
            "key-" + "0123456789abcdef0123456789abcdef",
        ),
        (
            "vault.sh",
            "export VAULT_TOKEN=hvs." + "CAESIJkx8Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw",
            "vault-token",
            "hvs." + "CAESIJkx8Zr8Kq2Lm5Nx7Vb3Cd9Fg1Hj4Tw",
        ),
    ],
)
def test_secrets_in_arguments_netrc_curl_docker_and_encoded_keys_are_found(
    path: str, line: str, kind: str, value: str
) -> None:
    assert only(line, path) == (kind, value)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("app.py", 'sort_key = "created_at_desc_order_x1"'),
        ("app.py", 'cache_key = "user:profile:v2:settings"'),
        ("six.py", 'MovedAttribute("HTTPPasswordMgr", "urllib2", "urllib.request"),'),
        ("settings.py", 'AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"'),
        ("models.py", 'primary_key = "id"'),
        ("api.py", "auth = HTTPBasicAuth(user, password)"),
        ("README.md", "Use bearer tokens for the API; see the auth docs."),
    ],
)
def test_key_and_auth_names_with_ordinary_values_are_left_alone(path: str, line: str) -> None:
    assert find_secrets(line, path) == ()
