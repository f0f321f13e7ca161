"""Whether a value found where a secret is expected is one: a placeholder, a reference, an
ordinary word, or a credential written out.

Pure. detect-secrets' filters judge a value by how random it looks; a password a person chose
(`SunshineLollipop`, `Summer.Winter.Fall2024`, `8302918475`) does not look random, and its rules
let such values through. Here a value under a secret's name is a secret unless it is exactly
one of a few placeholder forms (`changeme`, `<your password>`, `${DB_PASSWORD}`), and only
how sure the finding is depends on its look: what `credential_like` accepts is reported as a
committed secret, the rest is only redacted, since a wrong "rotate this key" comment costs a
reviewer's trust and a redaction costs little.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_PLACEHOLDER_WORDS = frozenset(
    (
        "api_key apikey api-key bar baz bytes change_me change-me changeit changeme default "
        "dummy empty example fake false foo foobar hidden int masked my_password mypassword nil "
        "no none null off ok on optional pass passwd password placeholder pwd redacted required "
        "sample secret secret_key secretkey str string tbd test testing todo fixme token true "
        "undefined unset value xxx yes your-api-key your_api_key your_password yourpassword ~"
    ).split()
)
# A value that is a template, a reference to a secret store or a variable, not a secret.
_TEMPLATE = re.compile(
    r"""(?x)
    \$\{\{.*?\}\} | \$\{[^{}]*\} | \{\{.*?\}\} | \{%.*?%\} | \#\{[^{}]*\} | <%=?.*?%>
    | \$\([^()]*\) | \$[A-Za-z_][A-Za-z0-9_]* | %\([A-Za-z_]\w*\)[sd] | %s | %[A-Za-z_]\w*%
    | \{[A-Za-z_][\w.]*\} | <redacted:[a-z0-9-]+> | &lt;redacted:[a-z0-9-]+&gt;
    """
)
# The whole value is a reference to where the secret lives.
_REFERENCE_VALUE = re.compile(
    r"""(?ix)
    (?:!(?:secret|vault|env|ref|sub|getatt|importvalue|encrypted)\b|ENC\[|vault:|op://|
       secret://|secretsmanager:|ssm:|sm://|gcp:|azkv:|ref\+|arn:aws[\w-]*:)
    .*
    | projects/[\w-]+/secrets/.*
    | <[A-Za-z][A-Za-z _.\-]*>          # <your password>, <API_TOKEN>
    | \[[A-Z][A-Z_\-]*\]                # [UNK], [MASK]: a tokenizer's special tokens
    | <\|[\w.\-]+\|> | </?[a-z]{1,8}>   # <|im_end|>, <s>, </s>, <pad>
    | your[\s_\-]?[a-z_\-\s]*           # your_api_key_here
    | example[\s_\-]?[a-z_\-\s]*
    | [\w\-]{0,16}(?:\.\.\.|…)          # sk-..., a value cut short in an example
    | (?:\.\.\.|…)[\w\-]{0,16}
    | [|>][+\-]?                        # YAML block scalar indicator: the value is below
    | [*&][\w\-]+                       # YAML alias or anchor
    """
)


def placeholder(value: str) -> bool:
    """Whether `value` is exactly a placeholder, template or reference, not a secret: a dummy
    word, `${VAR}`, `{{ secrets.X }}`, `<your token>`, `****`, `your_api_key`, `sk-...`. A
    value with a template inside it and more characters around (`Xk8${q}9vLq2`) is not."""
    stripped = value.strip()
    lowered = stripped.lower()
    if not lowered or lowered in _PLACEHOLDER_WORDS or len(set(lowered)) <= 2:
        return True  # '', 'changeme', '****', 'xxxx', '0000'
    if _REFERENCE_VALUE.fullmatch(stripped):
        return True
    if "$" in stripped or "{" in stripped or "%" in stripped or "<" in stripped:
        rest = _TEMPLATE.sub(" ", stripped).strip(" \t:/@=-_.,;'\"{}()[]").lower()
        if rest != stripped.lower() and rest in ("", "bearer", "basic", "token", "bot"):
            return True  # `${USER}:${PASS}`, `Bearer ${TOKEN}`, `{{ a }}-{{ b }}`
    return False


# Words as they are written: `word`, `Word`, `WORD`, and words joined in camel case.
_WORDISH = re.compile(r"(?:[A-Z]?[a-z]{2,}|[A-Z]{2,}(?![a-z]))+|[A-Za-z]")


def word_like(value: str) -> bool:
    """An ordinary word or phrase: letters only, written as words are (`required`, `Password`,
    `SECRET`, `SecretStr`, `my-session`, `Mot de passe`), with no digit or symbol in it."""
    parts = re.split(r"[\s_\-.:/]+", value.strip())
    return all(p and _WORDISH.fullmatch(p) for p in parts)


def entropy(value: str) -> float:
    """Shannon entropy of `value` in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def credential_like(value: str) -> bool:
    """Whether `value` looks like a credential written out rather than a word, a number or
    a name: letters with digits or symbols (`Yourdog7!x`, `K9X2_QP7Z_L3M8`), letters in no
    word's case (`wWpsgOJEqhIH`), or a long number (`8302918475`). A phrase counts when one of
    its words does (`correct horse S8Y7irSrAqOQ!`)."""
    value = value.strip()
    if any(c.isspace() for c in value):
        return any(len(w) >= 6 and credential_like(w) for w in value.split())
    if value.isdigit():
        return len(value) >= 8
    has_letter = any(c.isalpha() for c in value)
    if not has_letter or word_like(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    if len(value) < 6:
        return has_digit and has_symbol  # `x9!Q`
    if has_digit or (has_symbol and not re.fullmatch(r"[A-Za-z]+(?:[_\-.:/][A-Za-z]+)*", value)):
        return True
    return len(value) >= 8  # letters in no word's case: `wWpsgOJEqhIH`


def identifier_like(value: str) -> bool:
    """A lowercase identifier of a few short words (`end_of_turn`, `user_session_2024_v2`,
    `app.auth.token.v2`): a name a program uses, not a random key, though it may sit under a
    name ending in `_token` or `_key`."""
    parts = re.split(r"[_\-.:]", value.strip("_-.:"))
    return (
        len(parts) >= 2
        and all(p and len(p) <= 12 and (p.isdigit() or p.islower()) for p in parts)
        and sum(p.isalpha() for p in parts) >= len(parts) / 2
        and entropy(value) < 4.0
    )


def path_like(value: str) -> bool:
    """A file path or plain URL, not a secret (a URL's password is its own rule)."""
    return value.startswith(("/", "./", "../", "~/", "file:", "http://", "https://"))


_REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def reference(value: str) -> bool:
    """A dotted name (`settings.secret`, `os.environ`): a reference to a secret, not one."""
    return bool(_REFERENCE.match(value))


def name_like(value: str) -> bool:
    """A reference, an environment variable's name, a type or a word: what an unquoted value
    in code is more often than a secret."""
    return bool(
        _REFERENCE.match(value)
        or _ENV_NAME.match(value)
        or value.isdigit()
        or (value.isalpha() and value.islower() and len(value) <= 12)
        or (value.isalpha() and value[0].isupper() and len(value) <= 24)
    )


def literal(value: str) -> bool:
    """For detect-secrets' broad keyword rules, the old look: not a placeholder, a path, a
    reference, a type or a word (its own rules match `password: str` and `token = self.x`)."""
    if len(value) < 5 or placeholder(value) or path_like(value):
        return False
    if any(c.isspace() for c in value) or value.isdigit():
        return False
    if _REFERENCE.match(value) or _ENV_NAME.match(value):
        return False
    if value.isalpha() and value.islower() and len(value) <= 12:
        return False
    return not (value.isalpha() and value[0].isupper() and len(value) <= 24)


def filtered(value: str, line: str) -> bool:
    """detect-secrets' heuristic filters for keyword and high-entropy finds."""
    from detect_secrets.filters import heuristic  # noqa: PLC0415

    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or heuristic.is_indirect_reference(line)
    )
