"""The service spec (`changeover.toml`): pydantic models, field types, cross-key rules, loading.

Import from the modules (`spec.load.load_spec`, `spec.models.Spec`): this file re-exports
nothing, so `import changeover.spec.strategy` or `.queries` stays free of pydantic.
"""
