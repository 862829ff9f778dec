"""The web dashboard the `[ops]` listener serves at `/`: static pages shipped in the wheel
(`static/`), JSON read from the agent's state, and actions behind the ops token.

Re-exports nothing: importing `dashboard.series` (the agent does, to keep the charts'
history) loads no web code.
"""
