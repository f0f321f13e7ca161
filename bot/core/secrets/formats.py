"""Token formats: detect-secrets' regex plugins, and the formats it does not know.

Pure; detect-secrets loads on the first scan, not at import. A format is a secret by its shape
alone (a prefix, a length, an alphabet), wherever it is written. detect-secrets knows AWS,
Stripe, Slack, GitHub, GitLab, Twilio SIDs, SendGrid, npm, Azure storage, Discord bot tokens,
JWTs, PyPI, Telegram and a few more; the ones added here are formats it predates or misses
(each checked against its vendor's documentation or a public scanner's rule): Anthropic and
current OpenAI keys, Stripe restricted, test and webhook keys, Google API keys and OAuth client
secrets, GitHub fine-grained tokens, Hugging Face, Shopify, DigitalOcean, Databricks, Mailgun,
Vault, Postman, Linear, Doppler, age, Atlassian, New Relic, Fly.io, Grafana, PlanetScale,
Supabase, Pulumi, Heroku and Figma tokens; Discord webhook URLs; Sentry DSN keys; a Twilio
auth token written beside its account SID; private keys written in one line of base64 (a PEM
key encoded again, a DER key, an OpenSSH key body).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # detect-secrets loads on the first scan, not at import
    from detect_secrets.plugins.base import BasePlugin
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin

# (kind, what a line must hold for the pattern to match it, pattern): the secret is the
# pattern's group 1 where it has one, else the whole match.
_EXTRA: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    (
        "anthropic-key",
        ("sk-ant-",),
        re.compile(r"\bsk-ant-[a-z]{2,8}[0-9]{0,3}-[A-Za-z0-9_-]{20,}"),
    ),
    (
        "openai-key",
        ("sk-",),
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{32,}"),
    ),
    (
        "stripe-key",
        ("_live_", "_test_", "whsec_"),
        re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}|\bwhsec_[0-9A-Za-z]{24,}"),
    ),
    ("google-api-key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("google-oauth-secret", ("GOCSPX-",), re.compile(r"\bGOCSPX-[0-9A-Za-z_-]{28}")),
    (
        "github-token",
        ("github_pat_", "gh"),
        re.compile(r"\bgithub_pat_[0-9A-Za-z_]{60,}|\bgh[pousr]_[0-9A-Za-z]{30,}"),
    ),
    (
        "gitlab-token",
        ("gl",),
        re.compile(r"\bgl(?:pat|dt|ft|soat|rt|cbt|imt|ptt)-[0-9A-Za-z_-]{20,}"),
    ),
    ("slack-token", ("xox",), re.compile(r"\bxox[abposre]-[0-9A-Za-z-]{10,}")),
    ("huggingface-token", ("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("shopify-token", ("shp",), re.compile(r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}")),
    ("digitalocean-token", ("_v1_",), re.compile(r"\bdo[opr]_v1_[a-f0-9]{64}")),
    ("databricks-token", ("dapi",), re.compile(r"\bdapi[a-f0-9]{32}(?:-\d)?")),
    ("npm-token", ("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}")),
    ("age-key", ("AGE-SECRET-KEY-1",), re.compile(r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}")),
    (
        "azure-key",
        ("=",),
        re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{30,}={0,2})"),
    ),
    ("mailgun-key", ("key-",), re.compile(r"\bkey-[0-9a-f]{32}\b")),
    ("vault-token", ("hvs.", "hvb.", "hvr."), re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}")),
    ("postman-key", ("PMAK-",), re.compile(r"\bPMAK-[0-9a-f]{24}-[0-9a-f]{34}")),
    ("linear-key", ("lin_api_",), re.compile(r"\blin_api_[A-Za-z0-9]{40}")),
    ("doppler-token", ("dp.",), re.compile(r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}")),
    (
        "square-token",
        ("sq0atp-", "EAAA"),
        re.compile(r"\bsq0atp-[0-9A-Za-z_-]{22}|\bEAAA[0-9A-Za-z_-]{60}"),
    ),
    # Atlassian Cloud API tokens: ATATT3, base64url, `=`, an 8-digit hex checksum.
    ("atlassian-token", ("ATATT3",), re.compile(r"\bATATT3[A-Za-z0-9_\-=]{20,}")),
    # New Relic user keys (NRAK), insights insert and query keys, browser keys, license keys.
    (
        "newrelic-key",
        ("NRAK-", "NRII-", "NRIQ-", "NRJS-", "NRAL"),
        re.compile(
            r"\bNRAK-[A-Z0-9]{20,40}\b|\bNRI[IQ]-[A-Za-z0-9_-]{24,40}\b|\bNRJS-[a-f0-9]{19}\b"
            r"|\b[a-z0-9]{6}[a-f0-9]{30}NRAL\b"
        ),
    ),
    # Fly.io macaroon tokens (`FlyV1 fm2_…,fm2_…`) and org tokens.
    (
        "flyio-token",
        ("fm1", "fm2", "fo1_"),
        re.compile(
            r"\bFlyV1 (fm[12][ar]?_[A-Za-z0-9+/_=,\-]{20,})|\bfm[12][ar]?_[A-Za-z0-9+/]{32,}={0,3}"
            r"|\bfo1_[A-Za-z0-9_-]{20,}"
        ),
    ),
    ("grafana-token", ("glsa_", "glc_"), re.compile(r"\bgl(?:sa|c)_[A-Za-z0-9_+/=-]{32,}")),
    (
        "planetscale-token",
        ("pscale_",),
        re.compile(r"\bpscale_(?:pw|tkn|oauth)_[A-Za-z0-9_.\-=]{32,}"),
    ),
    ("supabase-token", ("sbp_",), re.compile(r"\bsbp_[a-f0-9]{40}\b")),
    ("pulumi-token", ("pul-",), re.compile(r"\bpul-[a-f0-9]{40}\b")),
    ("heroku-key", ("HRKU-",), re.compile(r"\bHRKU-[A-Za-z0-9_-]{30,}")),
    ("figma-token", ("figd_", "figh_"), re.compile(r"\bfig[dh]_[A-Za-z0-9_-]{32,}")),
    # A Discord webhook URL's token (its id is public, the token posts as the webhook).
    (
        "discord-webhook",
        ("/api/webhooks/",),
        re.compile(
            r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/([A-Za-z0-9_-]{40,})"
        ),
    ),
    # A Sentry DSN's key (the user part of the DSN URL), and its secret part in old DSNs.
    (
        "sentry-dsn",
        ("://",),
        re.compile(r"(?i)\bhttps?://([0-9a-f]{32}(?::[0-9a-f]{32})?)@[\w.\-]+"),
    ),
    # A private key written in one line of base64: a PEM key encoded again (Kubernetes
    # secrets, CI variables), a DER key's body (PKCS#1 RSA, PKCS#8, SEC1 EC), an OpenSSH
    # key's body (`openssh-key-v1` encoded).
    (
        "private-key",
        ("LS0tLS1CRUdJT", "b3BlbnNzaC1rZXktdjE", "MII", "MHcCAQEE", "MIG", "MC4CAQAwBQYDK2Vw"),
        re.compile(
            r"\bLS0tLS1CRUdJT[A-Za-z0-9+/]{10,}={0,2}"
            r"|\bb3BlbnNzaC1rZXktdjE[A-Za-z0-9+/]{10,}={0,2}"
            r"|\b(?:MII[A-Za-z0-9+/]{2}[AQgw]IBA(?:AK|DAN)|MHcCAQEE|MIG[A-Za-z0-9+/]AgEAMBMGByqGSM49"
            r"|MC4CAQAwBQYDK2Vw)[A-Za-z0-9+/]{16,}={0,2}"
        ),
    ),
)
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-+/=]*")
_JWT_TAIL = re.compile(r"[A-Za-z0-9_\-+/=.]*")
_TWILIO_SID = re.compile(r"\bAC[0-9a-f]{32}\b")
_HEX32 = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{32}(?![0-9A-Za-z])")


def formats(line: str) -> Iterator[tuple[str, int, int]]:
    """Each token of a known format in `line`: its kind, start and end."""
    for kind, plugin in _format_plugins():
        for value in set(plugin.analyze_string(line)):
            if len(set(value)) < 6:
                continue  # `ACxxxxxxxx…`: a format's example, not a token
            for start in _occurrences(line, value):
                tail = _JWT_TAIL if kind == "jwt" else _TOKEN_TAIL
                end = tail.match(line, start + len(value))
                yield _kind_of(kind, value), start, end.end() if end else start + len(value)
    for kind, hints, pattern in _EXTRA:
        if not any(hint in line for hint in hints):
            continue
        for match in pattern.finditer(line):
            group = 1 if match.re.groups and match.group(1) else 0
            yield kind, match.start(group), match.end(group)
    sid = _TWILIO_SID.search(line)
    if sid:
        # An account SID is public; a 32-hex string beside it is its auth token.
        for match in _HEX32.finditer(line):
            if not sid.start() <= match.start() < sid.end():
                yield "twilio-key", match.start(), match.end()


def twilio_tokens(text: str) -> Iterator[tuple[int, int]]:
    """In a text with a Twilio account SID, each 32-hex string within three lines of it that is
    not the SID itself: its auth token (`sid = "AC…"` then `Client(sid, "…")`)."""
    lines = text.split("\n")
    near: set[int] = set()
    for index, line in enumerate(lines):
        if "AC" in line and _TWILIO_SID.search(line):
            near.update(range(index - 3, index + 4))
    at = 0
    for index, line in enumerate(lines):
        if index in near:
            sids = [(m.start(), m.end()) for m in _TWILIO_SID.finditer(line)]
            for match in _HEX32.finditer(line):
                if not any(a <= match.start() < b for a, b in sids):
                    yield at + match.start(), at + match.end()
        at += len(line) + 1


def _kind_of(kind: str, value: str) -> str:
    """The kind of what a plugin found, where one plugin finds two kinds."""
    if kind == "aws":
        return "aws-access-key" if value[:4].isupper() and len(value) == 20 else "aws-secret-key"
    if kind == "slack-token" and value.startswith("https://"):
        return "slack-webhook"
    return kind


def _occurrences(line: str, value: str) -> Iterator[int]:
    start = line.find(value)
    while start >= 0:
        yield start
        start = line.find(value, start + len(value))


# detect-secrets' plugin classes by name, and the kind each one finds. Not used: its public-IP
# rule (an address is not a secret), its basic-auth rule (bot.core.secrets.detectors has one for any
# scheme) and its private-key markers (bot.core.secrets.keyblocks finds key blocks whole).
_PLUGINS: dict[str, str] = {
    "AWSKeyDetector": "aws",
    "ArtifactoryDetector": "artifactory-token",
    "AzureStorageKeyDetector": "azure-key",
    "CloudantDetector": "cloudant-key",
    "DiscordBotTokenDetector": "discord-token",
    "GitHubTokenDetector": "github-token",
    "GitLabTokenDetector": "gitlab-token",
    "IbmCloudIamDetector": "ibm-key",
    "IbmCosHmacDetector": "ibm-key",
    "JwtTokenDetector": "jwt",
    "MailchimpDetector": "mailchimp-key",
    "NpmDetector": "npm-token",
    "OpenAIDetector": "openai-key",
    "PypiTokenDetector": "pypi-token",
    "SendGridDetector": "sendgrid-key",
    "SlackDetector": "slack-token",
    "SoftlayerDetector": "softlayer-key",
    "SquareOAuthDetector": "square-token",
    "StripeDetector": "stripe-key",
    "TelegramBotTokenDetector": "telegram-token",
    "TwilioKeyDetector": "twilio-key",
}


@cache
def plugin_classes() -> dict[str, type[BasePlugin]]:
    """detect-secrets' built-in plugins by class name (loaded on the first scan)."""
    from detect_secrets.core.plugins.util import (  # noqa: PLC0415 - loads on the first scan
        get_mapping_from_secret_type_to_class,
    )

    mapping: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()
    return {cls.__name__: cls for cls in mapping.values()}


@cache
def _format_plugins() -> tuple[tuple[str, BasePlugin], ...]:
    classes = plugin_classes()
    return tuple((kind, classes[name]()) for name, kind in _PLUGINS.items())


@cache
def entropy_plugins() -> tuple[HighEntropyStringsPlugin, HighEntropyStringsPlugin]:
    """detect-secrets' high-entropy plugins at its default limits."""
    classes = plugin_classes()
    base64 = classes["Base64HighEntropyString"](limit=4.5)  # type: ignore[call-arg]
    hex_digits = classes["HexHighEntropyString"](limit=3.0)  # type: ignore[call-arg]
    return base64, hex_digits  # type: ignore[return-value]
