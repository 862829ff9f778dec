"""Schema migrations with deploys (expand before, contract after): pure decisions.

`state` is each revision's schema state and its table, `decide` says when a step may run
(and why not), `output` makes a command's output safe to keep. No I/O: the agent's
`agent.migrator` runs the commands and records what these modules decide.
"""
