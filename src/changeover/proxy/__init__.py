"""changeover's data plane: an HTTP/1.1 reverse proxy with zero-drop routing changes."""

from changeover.proxy.config import ProxyConfig
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy
from changeover.proxy.server import Proxy

__all__ = ["HeaderRoute", "Proxy", "ProxyConfig", "Sticky", "TrafficPolicy"]
