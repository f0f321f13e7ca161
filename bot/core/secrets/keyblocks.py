"""Secrets that span lines: private keys whole, wherever a text starts or ends in them, and the
values of a Kubernetes Secret manifest.

Pure. detect-secrets reports a private key by its BEGIN line alone, and a diff shows a hunk at
a time: a hunk that edits the line after a committed key shows the key's last lines as context
with an END line and no BEGIN; a key added across two hunks has its BEGIN in one and its END
in the next; a key pasted without its armour is lines of base64 and nothing else. So:

- from a BEGIN line, the key runs over the lines that look like key material (base64, headers
  like `Proc-Type:`, string quotes and `\\n` escapes around them) to its END line, or to where
  they stop; a key still open at the end of a hunk continues at the start of the file's next
  hunk (`Carry`);
- before an END line with no BEGIN, the lines back to the start of the text that look like key
  material are the key;
- two or more lines of 60 to 76 characters of pure base64 (the shape of PEM and OpenSSH key
  bodies) are key material wherever they are, unless they are inside the armour of something
  public (a certificate, a public key, a signature) or introduced as one;
- in a YAML document of `kind: Secret`, every value under `data:` or `stringData:` is a secret,
  whatever its key is called (bot.core.secrets.manifests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.core.secrets.manifests import is_yaml, secret_values

PRIVATE_KEY = "private-key"


@dataclass(frozen=True, slots=True)
class Span:
    """A secret found across lines: its kind, where it is, and whether it is sure enough to
    report as committed (not only redacted)."""

    kind: str
    start: int
    end: int
    sure: bool = True


@dataclass(frozen=True, slots=True)
class Carry:
    """What one hunk of a file leaves open for the next: a private key begun and not ended,
    and the Kubernetes kind of the last manifest document seen."""

    key: bool = False
    manifest: str | None = None


_MARKER = re.compile(
    r"-----(?P<edge>BEGIN|END) (?P<label>[A-Z0-9 ]{1,60}?)-----"
    r"|---- (?P<ssh2>BEGIN|END) SSH2 ENCRYPTED PRIVATE KEY ----"
)
_PUTTY = re.compile(r"PuTTY-User-Key-File-[0-9]+:.*?(?:Private-MAC:[ \t]*[0-9a-fA-F]+|\Z)", re.S)
# One line of key material: base64, maybe quoted, maybe ending in `\n` escapes, a comma or a
# concatenation; a diff's line mark allowed (a pasted diff in free text).
_KEY_LINE = re.compile(
    r"""^[+\- ]?\s*(?:[bru]{0,2}(?:\"\"\"|'''|["'`]))?"""
    r"""(?P<core>=?[A-Za-z0-9+/]{4,}={0,3})(?:\\r|\\n)*"""
    r"""(?:\"\"\"|'''|["'`])?\s*[,+;\\)\]]*\s*$"""
)
_HEADER_LINE = re.compile(
    r"^[+\- ]?\s*[\"'`]?(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset|Encryption"
    r"|Public-Lines|Private-Lines|Key-Derivation|Argon2-[A-Za-z]+):.*$"
)
_LAST_LINE = re.compile(r"[0-9+/]|=$|[a-z][A-Z]")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}")
_PEM_SHAPED = re.compile(r"[A-Za-z0-9+/]{60}")
_KEY_PREFIX = re.compile(
    r"b3BlbnNzaC1rZXktdjE|MII[A-Za-z0-9+/]{2}[AQgw]IBA(?:AK|DAN)|MHcCAQEE"
    r"|MIG[A-Za-z0-9+/]AgEAMBMGByqGSM49|MC4CAQAwBQYDK2Vw"
)
_KEY_INTRO = re.compile(r"(?i)priv|secret|key|rsa|dsa|ecdsa|ed25519|ssh|pem|token|credential")
_PUBLIC_INTRO = re.compile(
    r"(?i)cert|public|(?<![a-z])(?:pub|ca|gpg|pgp)(?![a-z])|chain|signature|bundle|trust"
)
_KEY_FILES = (".key", ".pem", ".ppk", ".p8", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")


def multiline(text: str, path: str, carry: Carry) -> tuple[list[Span], Carry]:
    """The private keys and Kubernetes Secret values in `text` (a hunk, or any text), given
    what the file's previous hunk left open, and what this one leaves open for the next."""
    lines = _Lines(text)
    spans: list[Span] = []
    public: list[tuple[int, int]] = []
    open_key = False
    first = 0
    if carry.key:
        end, closed, found = lines.walk_forward(0)
        if found:
            spans.append(Span(PRIVATE_KEY, 0, lines.end_of(end, closed)))
            first = end + 1
        open_key = found and not closed and end == len(lines) - 1
    if "-----" in text:
        key_open, more = _armoured(lines, first, spans, public)
        open_key = open_key or key_open
        spans += more
    if "PuTTY-User-Key-File" in text:
        spans += [Span(PRIVATE_KEY, m.start(), m.end()) for m in _PUTTY.finditer(text)]
    if _PEM_SHAPED.search(text):
        spans += _runs(lines, path, spans, public)
    manifest = carry.manifest
    if ("Secret" in text or manifest == "Secret") and is_yaml(path):
        values, manifest = secret_values(lines.lines, lines.starts, manifest)
        spans += [Span("secret", v.start, v.end, v.sure) for v in values]
    elif "kind:" in text and is_yaml(path):
        _, manifest = secret_values(lines.lines, lines.starts, manifest)
    return spans, Carry(key=open_key, manifest=manifest)


class _Lines:
    """A text's lines with their offsets, and the key-material walks over them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts: list[int] = []
        at = 0
        for line in self.lines:
            self.starts.append(at)
            at += len(line) + 1

    def __len__(self) -> int:
        return len(self.lines)

    def index(self, offset: int) -> int:
        """The line `offset` is on."""
        low, high = 0, len(self.starts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.starts[middle] <= offset:
                low = middle
            else:
                high = middle - 1
        return low

    def end_of(self, index: int, closed: bool) -> int:
        """Where a walk that stopped on line `index` ends: after the END marker on it when
        `closed`, else at the end of the line."""
        line = self.lines[index]
        if closed:
            marker = _last_end_marker(line)
            if marker is not None:
                return self.starts[index] + marker
        return self.starts[index] + len(line)

    def key_line(self, index: int) -> bool:
        line = self.lines[index]
        return bool(_KEY_LINE.match(line) or _HEADER_LINE.match(line))

    def walk_forward(self, index: int) -> tuple[int, bool, bool]:
        """From line `index`, over the lines of key material: the last line taken, whether it
        holds an END marker that closes the key, and whether any line was taken."""
        last, found = index - 1, False
        for at in range(index, len(self.lines)):
            line = self.lines[at]
            marker = _MARKER.search(line)
            if marker and _edge(marker) == "END":
                before = line[: marker.start()].strip(" \t\"'`+-")
                if not before or _KEY_LINE.match(before):
                    return at, True, True
                break
            if self.key_line(at):
                last, found = at, True
            elif line.strip() or not self._leads_on(at + 1):
                break  # code, or a blank line that does not lead to more key material
        return last, False, found

    def _leads_on(self, index: int) -> bool:
        return index < len(self.lines) and (self.key_line(index) or "-----END" in self.lines[index])

    def walk_back(self, index: int) -> tuple[int, bool]:
        """Back from line `index` (excluded) over the lines of key material: the first line
        taken (`index` when none) and whether the walk reached the start of the text."""
        first = index
        at = index - 1
        while at >= 0:
            if self.key_line(at):
                first = at
            elif self.lines[at].strip() or not (at > 0 and self.key_line(at - 1)):
                return first, False
            at -= 1
        return first, True


def _edge(marker: re.Match[str]) -> str:
    return marker["edge"] or marker["ssh2"]


def _private(marker: re.Match[str]) -> bool:
    return bool(marker["ssh2"]) or "PRIVATE KEY" in (marker["label"] or "")


def _last_end_marker(line: str) -> int | None:
    ends = [m.end() for m in _MARKER.finditer(line) if _edge(m) == "END"]
    return ends[-1] if ends else None


def _armoured(
    lines: _Lines, first: int, spans: list[Span], public: list[tuple[int, int]]
) -> tuple[bool, list[Span]]:
    """Keys between BEGIN and END markers (or where their material stops), and keys before an
    END marker with no BEGIN; the lines of public armour (certificates) go to `public`.
    Returns whether a key is still open at the end of the text."""
    text = lines.text
    found: list[Span] = []
    open_key = False
    consumed = lines.starts[first] if first < len(lines) else len(text)
    for marker in _MARKER.finditer(text):
        if marker.start() < consumed:
            continue
        index = lines.index(marker.start())
        private = _private(marker)
        if _edge(marker) == "BEGIN":
            line = lines.lines[index]
            rest = line[marker.end() - lines.starts[index] :]
            inline_end = next((m for m in _MARKER.finditer(rest) if _edge(m) == "END"), None)
            if inline_end is not None:  # one line: `"-----BEGIN …-----\nMIIE…\n-----END …"`
                end = marker.end() + inline_end.end()
                if _BASE64_RUN.search(rest[: inline_end.start()]):
                    if private:
                        found.append(Span(PRIVATE_KEY, marker.start(), end))
                    else:
                        public.append((marker.start(), end))
                consumed = end
                continue
            last, closed, taken = lines.walk_forward(index + 1)
            at_end = not closed and max(last, index) == len(lines) - 1
            if not (taken or _BASE64_RUN.search(rest) or at_end):
                continue  # the marker alone, in code that handles keys: not a key
            end = lines.end_of(last, closed) if taken else lines.starts[index] + len(line)
            if private:
                found.append(Span(PRIVATE_KEY, marker.start(), end))
                open_key = at_end
            else:
                public.append((marker.start(), end))
            consumed = end
        else:
            start_line, at_start = lines.walk_back(index)
            if start_line == index:
                continue  # an END marker after code, not after key material
            start = lines.starts[start_line]
            if private:
                sure = at_start or any(
                    len(core) >= 40 for core in _cores(lines.lines[start_line:index])
                )
                found.append(Span(PRIVATE_KEY, start, marker.end(), sure))
            else:
                public.append((start, marker.end()))
            consumed = marker.end()
    return open_key, found


def _cores(lines: list[str]) -> Iterator[str]:
    for line in lines:
        match = _KEY_LINE.match(line)
        if match:
            yield match["core"]


def _full_core(line: str) -> str | None:
    """The base64 of a line shaped like a PEM or OpenSSH key body line, if it is one."""
    match = _KEY_LINE.match(line)
    if match is None:
        return None
    core = match["core"].rstrip("=")
    if not 60 <= len(core) <= 76:
        return None
    if not (
        any(c.isupper() for c in core)
        and any(c.islower() for c in core)
        and any(c.isdigit() for c in core)
    ):
        return None
    return core


def _runs(
    lines: _Lines, path: str, spans: list[Span], public: list[tuple[int, int]]
) -> Iterator[Span]:
    """Runs of two or more key-body-shaped lines outside any block already found."""
    taken = [(s.start, s.end) for s in spans] + public
    index = 0
    while index < len(lines):
        if _full_core(lines.lines[index]) is None:
            index += 1
            continue
        first = index
        while index < len(lines) and _full_core(lines.lines[index]) is not None:
            index += 1
        last = index - 1
        if last == first:
            continue
        tail = _KEY_LINE.match(lines.lines[index]) if index < len(lines) else None
        if tail and len(tail["core"]) < 60 and _LAST_LINE.search(tail["core"]):
            last = index  # a key body's last, shorter line
        start = lines.starts[first]
        end = lines.starts[last] + len(lines.lines[last])
        if any(a < end and start < b for a, b in taken):
            continue
        intro = _introduction(lines, first)
        if _PUBLIC_INTRO.search(intro):
            continue  # `CA_BUNDLE = """` …: a certificate's body, public
        first_core = _full_core(lines.lines[first]) or ""
        sure = bool(
            _KEY_PREFIX.match(first_core)
            or _KEY_INTRO.search(intro)
            or path.rsplit("/", 1)[-1].lower().endswith(_KEY_FILES)
        )
        yield Span(PRIVATE_KEY, start, end, sure)


def _introduction(lines: _Lines, index: int) -> str:
    """The nearest non-blank line above line `index`, where a key is named (`KEY = \"\"\"`)."""
    at = index - 1
    while at >= 0 and not lines.lines[at].strip():
        at -= 1
    return lines.lines[at] if at >= 0 else ""
