"""Analysis: repeated measurements of metrics that decide whether a rollout may go on.

Invariant: the verdict logic (`run`, `builtin`, `window`, `verdict`) is pure; the I/O
(`prometheus`, `web`, `command`, `runner`) is injected and always yields one measurement
per metric per round. The package sits above the spec (it reads its models); the spec
checks builtin query names with `spec.queries`, which `builtin` verifies at import.
Import from the modules: `analysis.runner.Runner`, `analysis.run.AnalysisRun`,
`analysis.model.Measurement`, `analysis.builtin.evaluate`.
"""
