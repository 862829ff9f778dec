"""The operator listener (`[ops]`): Prometheus metrics collected at scrape time, the rule
file `changeover alerts rules` writes, and Alertmanager's webhook, which can roll back.

Re-exports nothing: importing `ops.rules` (the CLI does) loads no listener or collector.
"""
