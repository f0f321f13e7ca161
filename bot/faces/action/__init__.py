"""`tierbot action`: tierbot as a step of a GitHub Actions workflow; `tierbot doctor`: GPU check.

The Action is the App's pipeline without the queue: the event a workflow runs on becomes the same
job the webhook would queue (`bot.faces.app.events.route`), and the job runs at once through
`bot.pipeline` (`bot.faces.action.modes`) with a `GitHub` client on the workflow's token, whose
comments are by `github-actions[bot]`. What a runner provides is read from the environment it sets:

- `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH` (the webhook payload, as a file): `pull_request`,
  `pull_request_target` (handled as `pull_request`; tierbot never checks out or runs the pull
  request's code, it reads the diff through the API) and `issue_comment` (slash commands, with
  the App's permission rule: the comment's author association, else the permission API);
- `GITHUB_TOKEN` (or the `github-token` input), `GITHUB_API_URL` (GitHub Enterprise),
  `GITHUB_REPOSITORY` (checked against the payload's repository);
- the action's inputs, as `INPUT_<NAME>` variables that action.yml passes explicitly (a composite
  action does not map its inputs to the environment): `INPUT_MODE`, `INPUT_TIER`,
  `INPUT_MODEL_DIR`, `INPUT_CONFIG`, `INPUT_FAIL_ON`, `INPUT_LOCAL_RUNS_ON`,
  `INPUT_FRONTIER_RUNS_ON`, `INPUT_BOT_LOGIN`, `INPUT_GITHUB_TOKEN`, `INPUT_ANTHROPIC_API_KEY`.

Modes: `route` decides the tier (the pipeline's `prepare`, without the review) and writes the
outputs, and posts nothing; `review` reviews with the models this runner has and posts like the
App; `auto` routes as `route` does on what it prepares for this runner, then reviews it, in the
same job. The route job assumes
both tiers, each on its own runner (`local-runs-on`, `frontier-runs-on`); a review job uses what
its runner has (`model-dir` on the GPU runner, the Anthropic key). A fork's pull request on
`pull_request` is left alone (GitHub gives it no secrets and a read-only token): a
`pull_request_target` workflow reviews it. `config` replaces the repo's `.github/tierbot.yml`
(read from the default branch, as the App does) with a file on the runner.

Who may spend (bot.core.trust, bot.faces.action.gate), in every mode, whatever the workflow's `if:`
says: work for
an account without write access follows the repo's `review.untrusted_authors` (the local model
only, by default) and is capped per account and per repository per hour, counted from this
workflow's recent runs (`GITHUB_WORKFLOW_REF`, `GITHUB_RUN_ID`; the token needs `actions: read`).
A refusal is a `::notice::`, the step summary, and once per account, work and hour a reply or
summary on the pull request (route mode sends it to a runner without a model to post it). A
fork's pull request is never routed to the self-hosted GPU runner, and a step on a self-hosted
runner (`RUNNER_ENVIRONMENT`) refuses one. A monthly frontier budget (`TIERBOT_FRONTIER_BUDGET_USD`
for the repository, or `budget.frontier_usd_month`) is a hard cap here too when the workflow
gives the ledger's database (`TIERBOT_DATABASE_URL`, a PostgreSQL server): every frontier request
is held against it there; with a budget and no database, the frontier model is not used.

Outputs go to `GITHUB_OUTPUT` in GitHub's file format (a multiline value between heredoc
delimiters): `tier` (`local`, `frontier`, or `none` when no model is needed), `score`, `reasons`
(one per line), `runs-on` (the JSON runner labels for the next job; empty when there is nothing
to do), `cost-usd` and `comments` (inline comments posted). A readable report goes to
`GITHUB_STEP_SUMMARY`. Failures are `::error::` annotations; the exit code is non-zero only for a
real failure: bad inputs or event file (2), GitHub or the model failing, a review that could not
be done, or a posted comment at or above `fail-on` (1). A skipped pull request, a refused command
or an ignored event exits 0 with a notice.
"""

from __future__ import annotations
