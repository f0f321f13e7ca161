"""Real webhook deliveries for tests: GitHub's example payloads and signatures made by Octokit.

Payloads come from `@octokit/webhooks-examples` and signatures from `sign()` of
`@octokit/webhooks-methods`, both npm packages installed under tests/contract
(`npm ci --prefix tests/contract`, as CI does), so the signing does not share code with the
verification under test. One node process signs every body of the test session, line by line
(starting node costs ~50 ms; signing a body then costs well under a millisecond).

A test that needs them is skipped, with the reason, when node or the packages are missing.
"""

from __future__ import annotations

import atexit
import copy
import functools
import json
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

CONTRACT = Path(__file__).resolve().parent / "contract"
_MODULES = CONTRACT / "node_modules" / "@octokit"
EXAMPLES = _MODULES / "webhooks-examples" / "api.github.com" / "index.json"
METHODS = _MODULES / "webhooks-methods" / "package.json"
_INSTALL = "install them with `npm ci --prefix tests/contract`"

SECRET = "It's a Secret to Everybody"  # the example secret of GitHub's docs
BOT_LOGIN = "tierbot[bot]"

# Reads JSON lines {"secret", "body"} and writes one signature per line.
_SIGNER = """
import { sign } from "@octokit/webhooks-methods";
import { createInterface } from "node:readline";
for await (const line of createInterface({ input: process.stdin })) {
  const { secret, body } = JSON.parse(line);
  process.stdout.write((await sign(secret, body)) + "\\n");
}
"""


def missing(*, signing: bool = True) -> str | None:
    """Why real deliveries (or, with `signing=False`, real payloads) cannot be made here, or
    None when they can."""
    if not EXAMPLES.is_file():
        return f"@octokit/webhooks-examples is not installed at {EXAMPLES}: {_INSTALL}"
    if not signing:
        return None
    if shutil.which("node") is None:
        return "node is not installed: webhook signing uses @octokit/webhooks-methods"
    if not METHODS.is_file():
        return f"@octokit/webhooks-methods is not installed at {METHODS}: {_INSTALL}"
    return None


def need_real_deliveries(*, signing: bool = True) -> None:
    """Skip the calling test when node or the npm packages it needs are missing."""
    reason = missing(signing=signing)
    if reason is not None:
        pytest.skip(reason)


@functools.cache
def _examples() -> dict[str, list[dict[str, Any]]]:
    index = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    return {entry["name"]: entry["examples"] for entry in index}


def payload(event: str, action: str | None = None) -> dict[str, Any]:
    """A copy of a real `event` payload (with this `action`), one sent to an App installation
    where the examples have one (it carries `installation.id`)."""
    need_real_deliveries(signing=False)
    found = [e for e in _examples()[event] if action is None or e.get("action") == action]
    if not found:
        raise LookupError(f"no {event}.{action} example in {EXAMPLES}")
    found.sort(key=lambda example: "installation" not in example)
    return copy.deepcopy(found[0])


def pr_comment(
    body: str,
    *,
    association: str = "MEMBER",
    login: str = "mona",
    user_type: str = "User",
) -> dict[str, Any]:
    """A real `issue_comment.created` payload made into a comment on a pull request: no example
    comes from a PR, so `issue.pull_request` is added, as GitHub sends it for PR comments."""
    data = payload("issue_comment", "created")
    issue = data["issue"]
    repo_url = data["repository"]["url"]
    html_url = data["repository"]["html_url"]
    issue["pull_request"] = {
        "url": f"{repo_url}/pulls/{issue['number']}",
        "html_url": f"{html_url}/pull/{issue['number']}",
        "diff_url": f"{html_url}/pull/{issue['number']}.diff",
        "patch_url": f"{html_url}/pull/{issue['number']}.patch",
        "merged_at": None,
    }
    comment = data["comment"]
    comment["body"] = body
    comment["author_association"] = association
    comment["user"]["login"] = login
    comment["user"]["type"] = user_type
    return data


class _Signer:
    """One node process running `sign()` of @octokit/webhooks-methods over stdin and stdout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def sign(self, secret: str, body: str) -> str:
        need_real_deliveries()
        with self._lock:
            process = self._start()
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(json.dumps({"secret": secret, "body": body}) + "\n")
            process.stdin.flush()
            line = process.stdout.readline().strip()
        if not line.startswith("sha256="):
            raise RuntimeError(f"the node signer answered {line!r} (is tests/contract installed?)")
        return line

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            node = shutil.which("node")
            assert node is not None
            self._process = subprocess.Popen(
                [node, "--input-type=module", "-e", _SIGNER],
                cwd=CONTRACT,  # where node resolves the package from
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )
            atexit.register(self.close)
        return self._process

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                assert self._process.stdin is not None
                self._process.stdin.close()
                self._process.wait(timeout=5)
            self._process = None


_signer = _Signer()


def sign(secret: str, body: bytes | str) -> str:
    """`sha256=<hex>`: the `X-Hub-Signature-256` of `body` (UTF-8 text), made by Octokit."""
    return _signer.sign(secret, body if isinstance(body, str) else body.decode("utf-8"))


def encode(data: dict[str, Any]) -> bytes:
    """A payload as GitHub sends it: JSON text in UTF-8."""
    return json.dumps(data).encode("utf-8")


def headers(
    event: str, body: bytes, *, secret: str = SECRET, delivery: str | None = None
) -> dict[str, str]:
    """The headers of a signed delivery of `event` (a fresh delivery id unless given)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/tests",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": sign(secret, body),
    }
