"""Who may spend the team's money: write access, and what work by anyone else gets.

On a public repository anyone can open a pull request or comment on one, and every review or
answer is paid for by the team (frontier-model dollars, GPU time). tierbot trusts an account
with write access to the repository and no one else:

- an author association (https://docs.github.com/en/graphql/reference/enums#commentauthorassociation)
  of OWNER, MEMBER or COLLABORATOR is write access as the payload already says it; any other
  (CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR, NONE, ...) may still have it through a team, so
- the permission API decides then
  (https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user):
  a role of write, maintain or admin passes; triage, read and none do not.

Whoever causes the work is the one it is for: the pull request's author for a review on a
push, the one who asked for a command (`/review`, `/ask`), so a command from an account without
write access on a maintainer's pull request gets what such accounts get. Work for anyone else
follows `Untrusted`: `local` (the default) reviews and answers on the
local model only, never escalated to the frontier model, and not at all when there is no local
model; `none` does no model work for them unless someone with write access asks (`/review`);
`auto` routes their work like everyone's (for private repositories, where every author is
trusted anyway). A repo chooses in `.github/tierbot.yml` (`review.untrusted_authors`), the
operator may set the most any repo may choose (`TIERBOT_UNTRUSTED_AUTHORS`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
"""Author associations that are write access by themselves."""
ROLES = ("admin", "maintain", "write", "triage", "read")
"""The roles the permission API names, from the most access to the least."""
WRITE_ROLES = frozenset(ROLES[: ROLES.index("write") + 1])
"""Roles of the permission API that are write access: write and every role above it."""


class Untrusted(StrEnum):
    """What work for an account without write access gets, from the least to the most."""

    NONE = "none"
    LOCAL = "local"
    AUTO = "auto"

    def at_most(self, ceiling: Untrusted) -> Untrusted:
        """This policy, or `ceiling` when that allows less."""
        order = list(Untrusted)
        return self if order.index(self) <= order.index(ceiling) else ceiling


class Permissions(Protocol):
    """What the trust check needs of GitHub (bot.adapters.github.GitHub provides it)."""

    async def permission(self, owner: str, repo: str, login: str) -> str: ...


def trusted_association(association: str | None) -> bool:
    """Whether an author association is write access by itself (no API call needed)."""
    return association in TRUSTED_ASSOCIATIONS


async def may_write(
    github: Permissions, owner: str, repo: str, login: str, association: str | None = None
) -> bool:
    """Whether `login` has write access to owner/repo: its association says so, or else the
    permission API does. An empty login (a deleted account) has none."""
    if not login:
        return False
    if trusted_association(association):
        return True
    return await github.permission(owner, repo, login) in WRITE_ROLES
