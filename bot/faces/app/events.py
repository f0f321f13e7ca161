"""Webhook events and slash commands → jobs: a pure decision, payload in, `Routed` out.

The web handler verifies a delivery and calls `route()`; whatever must be done is returned as
jobs for the queue, so nothing here (or in the handler) talks to GitHub or a model. The worker
(bot.pipeline) carries the jobs out: it reacts 👀 to a command, asks GitHub's permission API
when a job says so and posts the replies. The per-PR rate limit on commands needs state across
deliveries, which a pure decision does not have: the queue applies it as it stores the jobs.

Events (https://docs.github.com/en/webhooks/webhook-events-and-payloads):
- `pull_request` opened, reopened, synchronize, ready_for_review → a `review` job for the head
  commit. Drafts and PRs opened by bots are skipped unless `EventSettings` allows them.
- `issue_comment` created on a pull request (the payload's `issue.pull_request` is present) with a
  slash command → a `command` job. Comments by the bot itself are ignored, so it never answers
  itself; comments by other bots are ignored too unless allowed, so two bots cannot loop.
- `pull_request_review_comment` created as a reply in a thread (`in_reply_to_id`) → a `reply` job;
  the worker answers only when the thread's root comment is the bot's (the payload does not say
  who wrote the root, so this cannot be decided here).
- `installation`, `installation_repositories` → recorded (the queue records every delivery).
- `ping` → "pong" (the web handler answers it before routing).
- anything else → "ignored: <event>.<action>".

Slash commands start a line of a comment, as `/name args` or `@<app slug> name args`: a command
quoted with `>`, inside a fenced or indented code block, or inside an HTML comment is not a
command. The first command in a comment is the one carried out.

Permission rule (bot.core.trust): `/review --frontier` and `/review full` spend frontier-model
money,
`/pause` and `/resume` change how the PR is reviewed, so they need write access. An author
association (https://docs.github.com/en/graphql/reference/enums#commentauthorassociation) of
OWNER, MEMBER or COLLABORATOR passes here; any other association (CONTRIBUTOR, NONE, ...) still may
have write access through a team, so the job is queued with `needs_permission_check: true` and the
worker asks the permission API (write, maintain or admin passes; anyone else gets a short refusal).

Caps (bot.core.caps): a job for an account whose association is not write access by itself carries
that account as its `author`, which the queue counts against the hourly caps as it stores the
job; a job for an OWNER, MEMBER or COLLABORATOR has none and is not counted. The author of a
pull request's review is the pull request's author (`pull_request.user`), whoever pushed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.job import Job
from bot.core.trust import trusted_association
from bot.faces.app.slash import (
    COMMANDS,
    MAX_ARG_CHARS,
    REVIEW_OPTIONS,
    Command,
    bot_slug,
    cut_question,
    needs_write,
    parse_command,
)

# The events the App subscribes to, and the ones the handler answers itself.
EVENTS = frozenset(
    {
        "ping",
        "pull_request",
        "issue_comment",
        "pull_request_review_comment",
        "installation",
        "installation_repositories",
    }
)
REVIEW_ACTIONS = frozenset({"opened", "reopened", "synchronize", "ready_for_review"})
_MAX_ID = 2**63 - 1  # a signed 64-bit integer, the most SQLite stores


@dataclass(frozen=True, slots=True)
class EventSettings:
    """What the webhook front reviews on its own. These are process settings: the handler cannot
    read a repo's `.github/tierbot.yml` without calling GitHub, which it never does."""

    review_drafts: bool = False
    review_bot_prs: bool = False
    commands_from_bots: bool = False


@dataclass(frozen=True, slots=True)
class Routed:
    """What to do about one delivery.

    `ack` always reads "<result>: <detail>", with result `queued`, `recorded`, `ignored` or
    `pong`. `reaction` is the comment to acknowledge and how, as (comment id, reaction content);
    the worker adds it from the job (the job's payload carries the comment id), so that the
    handler never waits on GitHub. Every reply (help, refusals) is posted by the worker too.
    `action` is the delivery's action for the queue's record: None when it has none, or none
    that is text the queue can store.
    """

    jobs: list[Job]
    ack: str
    reaction: tuple[int, str] | None = None
    action: str | None = field(default=None, compare=False)

    @property
    def result(self) -> str:
        return self.ack.split(":", 1)[0]


class _Malformed(Exception):
    """A payload without a field its event must have, or with one GitHub would never send: an
    id out of the 64-bit range, text that is not encodable (a lone surrogate)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def route(
    event: str, payload: Mapping[str, Any], *, bot_login: str, settings: EventSettings
) -> Routed:
    """Decide what a verified delivery of `event` asks for. Never raises on odd payloads: a
    payload without the fields its event must have, or with an id or text that GitHub never
    sends and the queue could not store, is ignored, with the field named."""
    try:
        action = _optional_text(payload, "action")
    except _Malformed:
        return Routed([], f"ignored: malformed {event} payload (no action)")
    return replace(_route(event, action, payload, bot_login, settings), action=action or None)


def _route(
    event: str, action: str, payload: Mapping[str, Any], bot_login: str, settings: EventSettings
) -> Routed:
    try:
        if event == "ping":
            return Routed([], "pong: ping")
        if event == "pull_request":
            return _pull_request(action, payload, settings)
        if event == "issue_comment":
            return _issue_comment(action, payload, bot_login, settings)
        if event == "pull_request_review_comment":
            return _review_comment(action, payload, bot_login, settings)
        if event in ("installation", "installation_repositories"):
            return _installation(event, action, payload)
    except _Malformed as exc:
        return Routed([], f"ignored: malformed {event} payload (no {exc.path})")
    return Routed([], f"ignored: {event}.{action}" if action else f"ignored: {event}")


def _pull_request(action: str, payload: Mapping[str, Any], settings: EventSettings) -> Routed:
    if action not in REVIEW_ACTIONS:
        return Routed([], f"ignored: pull_request.{action}")
    pull = _mapping(payload, "pull_request")
    if pull.get("draft") is True and not settings.review_drafts:
        return Routed([], "ignored: draft")
    author = _mapping(pull, "user", "pull_request.")
    if _is_bot(author) and not settings.review_bot_prs:
        return Routed([], f"ignored: opened by a bot ({_text(author, 'login', 'user.')})")
    owner, repo = _repository(payload)
    number = _number(pull, "number", "pull_request.")
    head = _text(_mapping(pull, "head", "pull_request."), "sha", "pull_request.head.")
    trigger = f"pull_request.{action}"
    login = _text(author, "login", "pull_request.user.")
    job = Job(
        "review",
        owner,
        repo,
        number,
        installation_id=_installation_id(payload),
        head_sha=head,
        trigger=trigger,
        author=_counted(login, pull.get("author_association")),
    )
    return Routed([job], f"queued: review of {owner}/{repo}#{number} at {head[:12]}")


def _issue_comment(
    action: str, payload: Mapping[str, Any], bot_login: str, settings: EventSettings
) -> Routed:
    if action != "created":
        return Routed([], f"ignored: issue_comment.{action}")
    issue = _mapping(payload, "issue")
    if not issue.get("pull_request"):
        return Routed([], "ignored: a comment on an issue, not a pull request")
    comment = _mapping(payload, "comment")
    user = _mapping(comment, "user", "comment.")
    login = _text(user, "login", "comment.user.")
    skipped = _skipped_author(user, login, bot_login, settings)
    if skipped:
        return Routed([], skipped)
    body = _optional_text(comment, "body", "comment.")
    command = parse_command(body, bot_slug(bot_login))
    if command is None:
        return Routed([], "ignored: no command")
    owner, repo = _repository(payload)
    number = _number(issue, "number", "issue.")
    comment_id = _number(comment, "id", "comment.")
    name, args, problem = _checked(command)
    association = comment.get("author_association")
    association = association if isinstance(association, str) else "NONE"
    needs_check = needs_write(command) and not trusted_association(association)
    details: dict[str, Any] = {
        "command": name,
        "args": list(args),
        "user": login,
        "author_association": association,
        "comment_id": comment_id,
        "needs_permission_check": needs_check,
    }
    if problem:
        details["problem"] = problem
    tier_hint = None
    if name == "review":
        tier_hint = "frontier" if "--frontier" in args else "local" if "--local" in args else None
    job = Job(
        "command",
        owner,
        repo,
        number,
        installation_id=_installation_id(payload),
        trigger=f"/{command.name}",
        tier_hint=tier_hint,
        payload=details,
        author=_counted(login, association),
    )
    check = " (permission to be checked)" if needs_check else ""
    what = f"/{name}" if not problem else f"/help ({problem})"
    return Routed([job], f"queued: {what} on {owner}/{repo}#{number}{check}", (comment_id, "eyes"))


def _checked(command: Command) -> tuple[str, tuple[str, ...], str | None]:
    """The command to carry out: the one asked for, or `help` with the reason when it is not
    a known command or its arguments are wrong."""
    if command.name not in COMMANDS:
        return "help", (), f"unknown command /{command.name[:MAX_ARG_CHARS]}"
    if command.name == "review":
        unknown = [a for a in command.args if a not in REVIEW_OPTIONS]
        if unknown:
            return "help", (), f"unknown option {unknown[0]!r} for /review"
        if {"--local", "--frontier"} <= set(command.args):
            return "help", (), "/review takes --local or --frontier, not both"
    if command.name == "ask" and not command.args:
        return "help", (), "/ask needs a question"
    return command.name, command.args, None


def _review_comment(
    action: str, payload: Mapping[str, Any], bot_login: str, settings: EventSettings
) -> Routed:
    if action != "created":
        return Routed([], f"ignored: pull_request_review_comment.{action}")
    comment = _mapping(payload, "comment")
    if comment.get("in_reply_to_id") is None:
        return Routed([], "ignored: a review comment that is not a reply")
    parent = _number(comment, "in_reply_to_id", "comment.")
    user = _mapping(comment, "user", "comment.")
    login = _text(user, "login", "comment.user.")
    skipped = _skipped_author(user, login, bot_login, settings)
    if skipped:
        return Routed([], skipped)
    owner, repo = _repository(payload)
    number = _number(_mapping(payload, "pull_request"), "number", "pull_request.")
    body = _optional_text(comment, "body", "comment.")
    trigger = "pull_request_review_comment.created"
    association = comment.get("author_association")
    association = association if isinstance(association, str) else "NONE"
    job = Job(
        "reply",
        owner,
        repo,
        number,
        installation_id=_installation_id(payload),
        trigger=trigger,
        payload={
            "comment_id": _number(comment, "id", "comment."),
            "in_reply_to_id": parent,
            "user": login,
            "author_association": association,
            "question": cut_question(body),
        },
        author=_counted(login, association),
    )
    return Routed([job], f"queued: reply in a review thread on {owner}/{repo}#{number}")


def _installation(event: str, action: str, payload: Mapping[str, Any]) -> Routed:
    installation = _mapping(payload, "installation")
    account = installation.get("account")
    login = account.get("login") if isinstance(account, Mapping) else None
    who = f" for {login}" if isinstance(login, str) else ""
    return Routed([], f"recorded: {event}.{action} (installation {installation.get('id')}{who})")


def _skipped_author(
    user: Mapping[str, Any], login: str, bot_login: str, settings: EventSettings
) -> str | None:
    if login.casefold() == bot_login.casefold():
        return "ignored: the bot's own comment"
    if _is_bot(user) and not settings.commands_from_bots:
        return f"ignored: a comment by a bot ({login})"
    return None


def _counted(login: str, association: object) -> str | None:
    """The account the caps count a job against: None when its association is write access."""
    return None if isinstance(association, str) and trusted_association(association) else login


def _is_bot(user: Mapping[str, Any]) -> bool:
    login = user.get("login")
    return user.get("type") == "Bot" or (isinstance(login, str) and login.endswith("[bot]"))


def _repository(payload: Mapping[str, Any]) -> tuple[str, str]:
    repository = _mapping(payload, "repository")
    owner = _mapping(repository, "owner", "repository.")
    return _text(owner, "login", "repository.owner."), _text(repository, "name", "repository.")


def _installation_id(payload: Mapping[str, Any]) -> int | None:
    """The installation's id; None when the delivery names none (GitHub sends it to Apps)."""
    installation = payload.get("installation")
    if isinstance(installation, Mapping) and installation.get("id") is not None:
        return _number(installation, "id", "installation.")
    return None


def _mapping(data: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise _Malformed(where + key)
    return value


def _text(data: Mapping[str, Any], key: str, where: str = "") -> str:
    """Text that is there, not blank, and encodable."""
    value = _optional_text(data, key, where)
    if not value.strip():
        raise _Malformed(where + key)
    return value


def _optional_text(data: Mapping[str, Any], key: str, where: str = "") -> str:
    """Text that may be missing or not text (then ""), but when it is text, is encodable:
    JSON can carry a lone surrogate (`"\\ud800"`), which no UTF-8 store takes."""
    value = data.get(key)
    if not isinstance(value, str):
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Malformed(where + key) from None
    return value


def _number(data: Mapping[str, Any], key: str, where: str = "") -> int:
    """A positive whole number that fits in 64 bits, as GitHub's ids and PR numbers all do (and
    as the queue's SQLite integers must)."""
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_ID:
        raise _Malformed(where + key)
    return value
