"""changeover's data plane: an HTTP/1.1 reverse proxy with zero-drop routing changes.

Import from the modules (`proxy.server.Proxy`, `proxy.config.ProxyConfig`,
`proxy.policy.TrafficPolicy`): this file re-exports nothing, so reading `proxy.metrics`
or `proxy.policy` never loads the server and httptools.
"""
