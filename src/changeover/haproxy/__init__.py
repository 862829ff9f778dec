"""The second data plane: HAProxy, configured by changeover and driven through its runtime API.

Import from the modules: `config` (the pure configuration renderer), `runtime` (the
runtime API without IO: commands as bytes, answers parsed from bytes), `plan` (pure:
desired servers and weights against what HAProxy has -> the commands that close the
gap), `logline` (pure: the sampled request log's lines), `client` (the stats socket's IO),
`process` (HAProxy as a supervised master-worker child), `engine` (`HaproxyEngine`, the
agent's engine over all of these). This file re-exports nothing.
"""
