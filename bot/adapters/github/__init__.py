"""The only package that talks to GitHub: pull requests, diffs, files, reviews and comments.

- `session`: githubkit holding one HTTP client per client for its life (a GitHub App's clients
  share one connection pool), bounded retries, writes a second apart;
- `errors`: GitHubError, which says whether a failure is `transient` (the job can be tried again
  later, bot.queue) and when GitHub said to try again (`retry_at`), and UnsafeBody;
- `pulls`: PullRef, PullRequest, pull request URLs, the diff rebuilt from the paged file list when
  GitHub refuses one as too large (406);
- `trees`: a folder as the Git trees API lists it, to read only the files that exist;
- `reader`, `feedback`, `client`: what the bot reads, what people made of its comments, and what
  it posts (`GitHub`, the client, holds all three);
- `app`: `GitHubApp`, which signs JWTs with the App's key and hands out one `GitHub` client per
  installation, whose installation token is cached until five minutes before it expires;
- `manifest`: registering an App from a manifest, and exchanging GitHub's code for its
  credentials (`RegisteredApp`).

Close a client, or the App, with `aclose` (or use it as `async with`).
"""

from bot.adapters.github.app import GitHubApp
from bot.adapters.github.client import DroppedComment, GitHub, PostedReview
from bot.adapters.github.errors import GitHubError, UnsafeBody
from bot.adapters.github.feedback import CommentFeedback
from bot.adapters.github.pulls import PullRef, PullRequest, parse_pull_url
from bot.adapters.github.session import DEFAULT_API_URL, TokenSource
from bot.adapters.github.trees import Tree, TreeEntry

__all__ = [
    "DEFAULT_API_URL",
    "CommentFeedback",
    "DroppedComment",
    "GitHub",
    "GitHubApp",
    "GitHubError",
    "PostedReview",
    "PullRef",
    "PullRequest",
    "TokenSource",
    "Tree",
    "TreeEntry",
    "UnsafeBody",
    "parse_pull_url",
]
