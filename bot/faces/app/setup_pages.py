"""The pages of the App's registration (bot.faces.app.setup): plain HTML, every value escaped."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from bot.adapters.github.manifest import RegisteredApp

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem;
       color: #1f2328; }
h1 { font-size: 1.6rem; } code { background: #f6f8fa; padding: 0 .3em; border-radius: 4px; }
.box { border: 1px solid #d0d7de; border-radius: 6px; padding: 1rem 1.25rem; margin: 1rem 0; }
.error { border-color: #cf222e; background: #fff8f8; }
button, .button { background: #1f883d; color: #fff; border: 0; border-radius: 6px;
       padding: .6rem 1.2rem; font-size: 1rem; cursor: pointer; text-decoration: none; }
.button { display: inline-block; margin: .2rem 0; } li { margin: .5rem 0; }
dt { font-weight: 600; } dd { margin: 0 0 .5rem 0; }
"""


def page(title: str, body: str) -> str:
    """A whole page around `body` (HTML, already escaped)."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · tierbot</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def register_page(
    manifest: dict[str, Any], action: str, webhook_url: str, env_path: str, org: str | None
) -> str:
    """The form that posts the manifest to GitHub's new-App page."""
    owner = f"the organisation <code>{escape(org)}</code>" if org else "your personal account"
    permissions = ", ".join(
        f"{escape(str(k))}: {escape(str(v))}"
        for k, v in sorted(dict(manifest.get("default_permissions", {})).items())
    )
    events = ", ".join(escape(str(e)) for e in manifest.get("default_events", []))
    body = f"""
<p>tierbot has no GitHub App credentials yet. This page registers a GitHub App for it from
<code>app.yml</code>, owned by {owner}. GitHub asks you to confirm and to name the App, then
sends you back here, and tierbot saves the App's id, private key and webhook secret in
<code>{escape(env_path)}</code> (readable by its owner only).</p>
<div class="box"><dl>
<dt>Webhook URL</dt><dd><code id="webhook-url">{escape(webhook_url)}</code></dd>
<dt>Permissions</dt><dd>{permissions}</dd>
<dt>Events</dt><dd>{events}</dd>
</dl></div>
<p>GitHub must reach the webhook URL. If it is not this server's public address, stop tierbot
and start it again with <code>tierbot serve --public-url https://YOUR-PUBLIC-ADDRESS</code>.</p>
<form method="post" action="{escape(action)}">
<input type="hidden" name="manifest" value="{escape(json.dumps(manifest))}">
<button type="submit">Register the App on GitHub</button>
</form>
"""
    return page("Register tierbot as a GitHub App", body)


def registered_page(app: RegisteredApp, env_path: str) -> str:
    """What to do once the App is registered: restart, then install it."""
    body = f"""
<p>GitHub registered the App <strong>{escape(app.name)}</strong> (id {app.app_id},
slug <code>{escape(app.slug)}</code>). Its id, private key and webhook secret are in
<code>{escape(env_path)}</code>, readable by its owner only; keep that file out of version control
and out of backups others can read.</p>
<div class="box"><ol>
<li>Stop this server (Ctrl-C) and start <code>tierbot serve</code> again in the same folder: it
reads <code>{escape(env_path)}</code>. Set <code>ANTHROPIC_API_KEY</code> and/or
<code>TIERBOT_LOCAL_MODEL_DIR</code> too, in the environment or in that file.</li>
<li><a class="button" id="install" href="{escape(app.install_url)}">Install the App</a> on the
repositories it should review.</li>
<li>Open a pull request in one of them: tierbot reviews it.</li>
</ol></div>
"""
    return page("The App is registered", body)


def error_page(title: str, message: str) -> str:
    """A failure, said plainly, with the way back."""
    body = (
        f'<div class="box error"><p>{escape(message)}</p></div>'
        '<p><a href="/setup">Start again</a> from the link <code>tierbot serve</code> printed.</p>'
    )
    return page(title, body)
