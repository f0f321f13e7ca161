"""Secrets in text: where they are, what kind each is, and the text with each one replaced.

Pure: text in, spans and text out; no I/O, no environment. Anything a pull request carries (its
lines, title, body, file paths, questions, thread text) goes through here before a model sees
it, and everything the bot writes (comments, logs, ledger, step summary) goes through `scrub`
before it leaves. A secret is replaced whole by a labelled placeholder, `<redacted:KIND>`, so a
reader (or a model) can still say that a key is committed there without seeing it.

Detection is detect-secrets' plugins plus the rules it lacks (bot.core.secrets.detectors, whose
docstring lists them and why), run line by line, a long line in overlapping windows cut
between tokens; what spans lines (private keys, Kubernetes Secret manifests) is found by
bot.core.secrets.keyblocks, across the hunks of one file too (`find_in_hunks`). Overlapping finds
merge into one span of the most specific kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.core.secrets.detectors import HIGH_ENTROPY, Secret, form_of, in_line
from bot.core.secrets.formats import twilio_tokens
from bot.core.secrets.keyblocks import Carry, multiline

__all__ = [
    "HIGH_ENTROPY",
    "Redaction",
    "Secret",
    "describe",
    "find_in_hunks",
    "find_secrets",
    "placeholder",
    "redact",
    "redact_text",
    "reported",
    "scrub",
    "scrub_bodies",
]


_KINDS: dict[str, str] = {
    "private-key": "a private key",
    "aws-access-key": "an AWS access key ID",
    "aws-secret-key": "an AWS secret access key",
    "url-password": "a password in a URL",
    "password": "a password",
    "secret": "a secret value",
    "token": "an access token",
    "api-key": "an API key",
    "jwt": "a JSON Web Token",
    "cookie": "a session cookie",
    "signed-url": "a signature that grants access through a URL (a SAS or presigned URL)",
    "atlassian-token": "an Atlassian API token",
    "newrelic-key": "a New Relic key",
    "flyio-token": "a Fly.io token",
    "grafana-token": "a Grafana token",
    "planetscale-token": "a PlanetScale token",
    "supabase-token": "a Supabase token",
    "pulumi-token": "a Pulumi token",
    "heroku-key": "a Heroku API key",
    "figma-token": "a Figma token",
    "discord-webhook": "a Discord webhook URL",
    "sentry-dsn": "a Sentry DSN key",
    "bearer-token": "a token or credentials in an Authorization header",
    "stripe-key": "a Stripe secret key",
    "slack-token": "a Slack token",
    "slack-webhook": "a Slack webhook URL",
    "github-token": "a GitHub token",
    "gitlab-token": "a GitLab token",
    "twilio-key": "a Twilio key",
    "sendgrid-key": "a SendGrid API key",
    "npm-token": "an npm token",
    "pypi-token": "a PyPI token",
    "azure-key": "an Azure storage or service key",
    "discord-token": "a Discord bot token",
    "telegram-token": "a Telegram bot token",
    "mailchimp-key": "a Mailchimp API key",
    "square-token": "a Square OAuth secret",
    "artifactory-token": "an Artifactory credential",
    "ibm-key": "an IBM Cloud credential",
    "softlayer-key": "a SoftLayer credential",
    "cloudant-key": "a Cloudant credential",
    "anthropic-key": "an Anthropic API key",
    "openai-key": "an OpenAI API key",
    "google-api-key": "a Google API key",
    "google-oauth-secret": "a Google OAuth client secret",
    "huggingface-token": "a Hugging Face token",
    "shopify-token": "a Shopify access token",
    "digitalocean-token": "a DigitalOcean token",
    "databricks-token": "a Databricks token",
    "age-key": "an age secret key",
    "mailgun-key": "a Mailgun API key",
    "vault-token": "a HashiCorp Vault token",
    "postman-key": "a Postman API key",
    "linear-key": "a Linear API key",
    "doppler-token": "a Doppler token",
    HIGH_ENTROPY: "a random-looking string",
}


@dataclass(frozen=True, slots=True)
class Redaction:
    """A text with its secrets replaced, and what was found in the original."""

    text: str
    found: tuple[Secret, ...]


def placeholder(kind: str) -> str:
    """What a secret of `kind` is replaced with."""
    return f"<redacted:{kind}>"


def describe(kind: str) -> str:
    """A kind in words, for a comment: `an AWS secret access key`."""
    return _KINDS.get(kind, "a secret")


def reported(kind: str) -> bool:
    """Whether a secret of this kind is a finding to comment on (not only redacted); a find
    must also be `sure` (see bot.core.secrets.values)."""
    return kind != HIGH_ENTROPY


def find_secrets(text: str, path: str = "") -> tuple[Secret, ...]:
    """Every secret in `text`, in order, overlapping finds merged. `path` is the file the text
    comes from (its type decides which assignment forms count); "" for free text."""
    return _find(text, path, Carry())[0]


def find_in_hunks(texts: Sequence[str], path: str) -> list[tuple[Secret, ...]]:
    """The secrets of each of a file's hunks, in order: a private key begun in one hunk and
    continued in the next, or a Kubernetes Secret manifest whose kind is in an earlier hunk,
    is found in the later one too."""
    carry = Carry()
    out = []
    for text in texts:
        found, carry = _find(text, path, carry)
        out.append(found)
    return out


def _find(text: str, path: str, carry: Carry) -> tuple[tuple[Secret, ...], Carry]:
    if not text:
        return (), Carry(manifest=carry.manifest)
    blocks, carry = multiline(text, path, carry)
    spans = [Secret(b.kind, b.start, b.end, b.sure) for b in blocks]
    if "AC" in text and "\n" in text:
        spans += [Secret("twilio-key", start, end) for start, end in twilio_tokens(text)]
    form = form_of(path)
    for start, line in _lines(text):
        for offset, window, cut in _windows(line):
            for s in in_line(window, path, form):
                end = offset + s.end
                if cut and s.end == len(window):
                    end = _token_end(line, end)  # a secret running past a hard cut
                spans.append(Secret(s.kind, start + offset + s.start, start + end, s.sure))
    return _merged(spans, text), carry


def redact(text: str, path: str = "") -> Redaction:
    """`text` with each secret replaced by its placeholder."""
    found = find_secrets(text, path)
    if not found:
        return Redaction(text, ())
    out: list[str] = []
    at = 0
    for secret in found:
        out.append(text[at : secret.start])
        out.append(placeholder(secret.kind))
        at = secret.end
    out.append(text[at:])
    return Redaction("".join(out), found)


def redact_text(text: str, path: str = "") -> str:
    """`text` with each secret replaced by its placeholder (the text alone)."""
    return redact(text, path).text


_MARKER = re.compile(r"<!-- tierbot:[^>]*-->")


def scrub(text: str) -> str:
    """Outbound text (a comment, a log line, a ledger field) with any secret replaced, the bot's
    own hidden markers left as they are."""
    pieces = _MARKER.split(text)
    if len(pieces) == 1:
        return redact_text(text)
    markers = _MARKER.findall(text)
    out = [redact_text(pieces[0])]
    for marker, piece in zip(markers, pieces[1:], strict=True):
        out += [marker, redact_text(piece)]
    return "".join(out)


def scrub_bodies(payload: object) -> object:
    """A JSON payload for GitHub with every `body` text in it scrubbed (a comment, a review and
    its inline comments, a reply); other fields (paths, SHAs, queries) are left as they are."""
    if isinstance(payload, dict):
        return {
            key: _as_text(scrub(value))
            if key == "body" and isinstance(value, str)
            else scrub_bodies(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [scrub_bodies(item) for item in payload]
    return payload


def _as_text(body: str) -> str:
    """A body with its placeholders escaped, so GitHub shows `<redacted:kind>` as text instead
    of dropping it as an unknown HTML tag."""
    return _RAW_PLACEHOLDER.sub(lambda m: f"&lt;{m[1]}&gt;", body)


_RAW_PLACEHOLDER = re.compile(r"<(redacted:[a-z0-9-]+)>")


# --- long lines --------------------------------------------------------------------------------

_WINDOW = 4000
_OVERLAP = 1000
_SEPARATOR = re.compile(r"[\s\"'`,;(){}\[\]<>|]")


def _windows(line: str) -> Iterator[tuple[int, str, bool]]:
    """A long line (minified code, a hostile comment) in overlapping pieces, so the cost of
    scanning it grows with its length, not with its square (some rules scan from every
    keyword to the end of the line). Pieces are cut between tokens (at a space, a quote, a
    bracket, `,` or `;`) where the line has any, so a token up to half a piece long (an
    873-character JWT, a 900-character value) is whole in one piece, and so is anything up to
    the overlap long (`name = "value"`). Yields (offset, piece, whether it was cut inside a
    token); finds in two pieces merge."""
    if len(line) <= _WINDOW:
        yield 0, line, False
        return
    start = 0
    while True:
        end = start + _WINDOW
        if end >= len(line):
            yield start, line[start:], False
            return
        cut = _last_separator(line, start + _WINDOW // 2, end)
        yield start, line[start : end if cut is None else cut], cut is None
        end = end if cut is None else cut
        step = _last_separator(line, end - 2 * _OVERLAP, end - _OVERLAP)
        start = max(start + 1, end - _OVERLAP if step is None else step)


def _last_separator(line: str, low: int, high: int) -> int | None:
    """The position just after the last separator in `line[low:high]`, if any."""
    for at in range(high - 1, max(low, 0) - 1, -1):
        if _SEPARATOR.match(line, at):
            return at + 1
    return None


_TOKEN_END = re.compile(r"[^\s\"'`<>]*")


def _token_end(line: str, at: int) -> int:
    """Where the token going on at `at` ends."""
    match = _TOKEN_END.match(line, at)
    return match.end() if match else at


def _lines(text: str) -> Iterator[tuple[int, str]]:
    at = 0
    for line in text.split("\n"):
        yield at, line
        at += len(line) + 1


# --- merging -----------------------------------------------------------------------------------

_RANK: dict[str, int] = {
    "private-key": 0,
    "url-password": 2,
    "password": 3,
    "secret": 3,
    "token": 3,
    "api-key": 3,
    "cookie": 3,
    "aws-secret-key": 1,
    HIGH_ENTROPY: 4,
}


def _rank(kind: str) -> int:
    return _RANK.get(kind, 1)


def _merged(spans: list[Secret], text: str) -> tuple[Secret, ...]:
    """Overlapping finds as one span, of the most specific kind, sure when any of them is; a
    placeholder (also as HTML escapes it, `&lt;redacted:…&gt;`) is never redacted again."""
    kept = list(_PLACEHOLDER.finditer(text)) if "redacted:" in text else []
    spans = [
        s
        for s in spans
        if s.end > s.start and not any(p.start() < s.end and s.start < p.end() for p in kept)
    ]
    spans.sort(key=lambda s: (s.start, -s.end))
    out: list[Secret] = []
    for span in spans:
        if out and span.start < out[-1].end:
            last = out[-1]
            kind = last.kind if _rank(last.kind) <= _rank(span.kind) else span.kind
            sure = (last.sure and last.kind != HIGH_ENTROPY) or (
                span.sure and span.kind != HIGH_ENTROPY
            )
            out[-1] = Secret(kind, last.start, max(last.end, span.end), sure)
        else:
            out.append(span)
    return tuple(out)


_PLACEHOLDER = re.compile(r"<redacted:[a-z0-9-]+>|&lt;redacted:[a-z0-9-]+&gt;")
