"""The review of one pull request, start to end, whatever face asked for it.

One request in (`bot.pipeline.request.Request`), one `Outcome` out. `prepare` owns the skip
rules, the settings, the diff and exclusion (`change`), who pays and what they may use, the
budgeted decision (`allowance`) and the estimates (`estimate`); `review` runs the models with
escalation, `posting` posts what they found (or, in a dry run, only returns it); `commands`
carries out queued jobs and slash commands, `answer` answers questions, `feedback` records what
the bot's comments got; `services` is what the pipeline needs from outside. The App's workers,
`tierbot replay`, every Action mode, `tierbot review` and `tierbot score` go through these
modules.

Nothing is imported here, so that `tierbot score` loads only `bot.pipeline.change`.
"""
