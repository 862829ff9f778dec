"""Analysis: repeated measurements of metrics that decide whether a rollout may go on.

Invariant: the verdict logic (`run`, `builtin`, `window`, `verdict`) is pure; the I/O
(`prometheus`, `web`, `command`, `runner`) is injected and always yields one measurement
per metric per round. This package imports nothing from `changeover.spec` at run time
(types only), so `spec.rules` may import `analysis.builtin` without an import cycle.
Import from the modules: `analysis.runner.Runner`, `analysis.run.AnalysisRun`,
`analysis.model.Measurement`, `analysis.builtin.BUILTIN_QUERIES`.
"""
