"""Specs that use every key the rendering maps: the schema tests render each of them."""

from __future__ import annotations

RICH = """
[app]
name = "Shop_API.v2"
command = "granian --interface asgi --host 127.0.0.1 --port {port} shop:app"
replicas = 4
env = { LOG_LEVEL = "info" }
secret_env = ["DATABASE_URL"]

[proxy]
listen = "0.0.0.0:80"
idle_timeout = "30s"

[probes.startup]
path = "/healthz"
period = "250ms"
failure_threshold = 40

[probes.readiness]
path = "/readyz"
period = "2s"
timeout = "1500ms"
initial_delay = "1s"
success_threshold = 2

[probes.liveness]
path = "/livez"
period = "10s"

[termination]
drain_timeout = "20s"
grace_period = "15s"
pre_stop = "curl -fsS -X POST localhost:9000/leave"

[strategy]
type = "canary"
max_surge = "25%"
max_unavailable = "10%"
min_ready = "5s"
progress_deadline = "10m"
steps = [
  { set_weight = 5 },
  { set_header_route = { header = "X-Canary", value = "yes" } },
  { set_header_route = { header = "X-Beta", prefix = "b" } },
  { set_canary_scale = { replicas = 2 } },
  { set_canary_scale = { match_traffic_weight = true } },
  { analysis = "slo" },
  { pause = "1500ms" },
  { set_weight = 50 },
  { analysis = "external" },
  { pause = {} },
]
background_analysis = "slo"
auto_promote = false
auto_promote_delay = "30s"
pre_promotion_analysis = "slo"
post_promotion_analysis = "slo"
preview_listen = "0.0.0.0:8081"
scale_down_delay = "2m"

[analysis.slo]
interval = "30s"
count = 4
initial_delay = "10s"
failure_limit = 1
inconclusive_limit = 2
consecutive_error_limit = 3
metrics = [
  { name = "success", provider = "builtin", query = "success_rate", min = 0.995 },
  { name = "errors", provider = "builtin", query = "error_rate", max = 0.01, min_requests = 50 },
  { name = "rate", provider = "builtin", query = "request_rate", min = 1, min_requests = 0 },
  { name = "p99", provider = "builtin", query = "latency_p99", max = "400ms" },
  { name = "p50 ratio", provider = "builtin", query = "latency_p50_ratio", max = 1.5 },
  { name = "error diff", provider = "builtin", query = "error_rate_diff", max = 0.005 },
  { name = "success diff", provider = "builtin", query = "success_rate_diff", min = -0.005 },
]

[[analysis.external.metrics]]
name = "saturation"
provider = "prometheus"
address = "http://prometheus:9090"
query = "max(up)"
min = 1

[[analysis.external.metrics]]
name = "status page"
provider = "web"
url = "http://status.internal/api"
json_path = "$.checks[0].ok"

[[analysis.external.metrics]]
name = "smoke"
provider = "command"
command = "./smoke.sh"

[environments.prod]
[environments.prod.spec.app]
replicas = 6
[environments.prod.spec.termination]
grace_period = "45s"
"""
