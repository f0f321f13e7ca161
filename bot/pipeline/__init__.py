"""The review of one pull request, start to end, whatever face asked for it.

One request in (`bot.pipeline.request.Request`), one `Outcome` out: `prepare` owns the skip
rules, permissions, settings, the diff, exclusion, the budgeted decision and the estimates
(`bot.pipeline.prepare`); `review` runs the models and posts (`bot.pipeline.review`); the
slash commands and the queued jobs (`bot.pipeline.commands`); the feedback on the bot's
comments (`bot.pipeline.feedback`). The App's workers, `tierbot replay`, every Action mode,
`tierbot review` and `tierbot score` go through these modules.

Nothing is imported here, so that `tierbot score` loads only `bot.pipeline.change`.
"""
