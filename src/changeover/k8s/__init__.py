"""Kubernetes manifests from a loaded spec: a Deployment, or an Argo Rollout with its
analysis, for a service that outgrows one machine (docs/kubernetes.md).

Invariant: rendering is pure (a `Spec` and `Options` in, plain-dict manifests with the
origin of each value and a report out): no agent, no proxy, no file or network access.
Every spec key the rendering cannot honour is in the report, never dropped silently.
This `__init__` re-exports nothing, so importing one module loads only what it needs.
"""
