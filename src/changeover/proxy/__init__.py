"""changeover's data plane: an HTTP/1.1 reverse proxy with zero-drop routing changes.

Import from the modules (`proxy.server.Proxy`, `proxy.config.ProxyConfig`,
`proxy.policy.TrafficPolicy`): this file re-exports nothing, so reading `proxy.metrics`
or `proxy.policy` never loads the server and httptools.

One request/response is an `exchange.Exchange`, whose `state.State` only it changes,
along `state.MOVES`. `fakes` drives the proxy byte by byte on virtual time (a fake
transport, scripted upstreams, a `CheckedExchange`): the tests' seam, no production use.
"""
