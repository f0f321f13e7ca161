"""The App's registration pages in a real browser: headless Chromium (Debian's `chromium`) loads
the setup page from a running server, and then the page GitHub's redirect lands on. Skips when
no Chromium is installed (`apt-get install chromium`); CI does not need it. And `tierbot serve`
itself in setup mode, as a process."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest
import uvicorn

from bot.adapters.env_file import read_env_file
from bot.faces.app.setup import Setup, create_setup_app, load_manifest
from tests.test_setup import ROOT, SECRET, FakeGitHub

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium here (Debian: apt-get install chromium)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Setup, FakeGitHub, str]]:
    fake = FakeGitHub()
    setup = Setup(
        load_manifest(ROOT / "app.yml"), tmp_path / ".env", "https://api.github.com", transport=fake
    )
    port = free_port()
    config = uvicorn.Config(create_setup_app(setup), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the setup server did not start"
        time.sleep(0.05)
    try:
        yield setup, fake, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # root in a container has no user namespace for the sandbox
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    return done.stdout


@needs_chromium
def test_the_setup_page_renders_the_form_and_the_redirect_lands_on_the_next_steps(
    running: tuple[Setup, FakeGitHub, str], tmp_path: Path
) -> None:
    setup, fake, url = running
    dom = chromium(tmp_path, "--dump-dom", f"{url}/setup?token={setup.token}")

    form = re.search(r'<form method="post" action="([^"]+)"', dom)
    assert form is not None
    action = unescape(form[1])
    assert action.startswith("https://github.com/settings/apps/new?state=")
    assert 'type="submit">Register the App on GitHub</button>' in dom
    assert f"{url}/webhook" in dom
    shot = tmp_path / "setup.png"
    chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1000,900",
        f"{url}/setup?token={setup.token}",
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if keep := os.environ.get("TIERBOT_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(keep) / "setup.png")

    # GitHub registered the App and redirects the browser back with a code and the state.
    state = action.split("state=", 1)[1]
    dom = chromium(tmp_path, "--dump-dom", f"{url}/setup/callback?code=a1b2c3&state={state}")
    assert "The App is registered" in dom
    assert 'href="https://github.com/apps/tierbot-octo/installations/new"' in dom
    assert SECRET not in dom
    assert [str(r.url) for r in fake.requests] == [
        "https://api.github.com/app-manifests/a1b2c3/conversions"
    ]
    assert read_env_file(setup.env_path)["TIERBOT_WEBHOOK_SECRET"] == SECRET
    assert stat.S_IMODE(setup.env_path.stat().st_mode) == 0o600
    if keep:
        done = Path(keep) / "registered.png"
        chromium(tmp_path, f"--screenshot={done}", "--window-size=1000,900", f"{url}/setup")


def test_serve_without_credentials_prints_its_setup_link_and_keeps_codes_out_of_its_log(
    tmp_path: Path,
) -> None:
    """`tierbot serve` itself, as a user starts it: the link it prints opens the page, and no
    line of its output repeats the token or a code GitHub sent back."""
    shutil.copy(ROOT / "app.yml", tmp_path / "app.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERBOT_GITHUB")}
    env.pop("TIERBOT_WEBHOOK_SECRET", None)
    port = free_port()
    tierbot = Path(sys.executable).parent / "tierbot"
    proc = subprocess.Popen(
        [str(tierbot), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        link = None
        deadline = time.monotonic() + 30
        while link is None or "Uvicorn running" not in "".join(lines):
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(proc.stdout.readline())
            found = re.search(r"register the GitHub App: (\S+)", lines[-1])
            link = found[1] if found else link
        assert link is not None
        assert link.startswith(f"http://127.0.0.1:{port}/setup?token=")
        page = httpx.get(link)
        assert page.status_code == 200
        assert "Register the App on GitHub" in page.text
        bad = httpx.get(f"http://127.0.0.1:{port}/setup/callback?code=c0de123&state=forged")
        assert bad.status_code == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    output = "".join(lines) + out
    token = link.split("token=", 1)[1]
    assert output.count(token) == 1  # the printed link, and nowhere else
    assert "c0de123" not in output
    assert not (tmp_path / ".env").exists()
