"""Replica processes: spawn, probes, restarts with backoff, graceful termination.

Import from the modules (`supervisor.supervisor.Supervisor`, `supervisor.state.ReplicaState`):
this file re-exports nothing, so the pure rollout machines can read `supervisor.state`
without loading psutil, pydantic or the process layer.
"""
