"""The service spec (`changeover.toml`): pydantic models, durations, quantities, loading."""

from changeover.spec.load import SpecError, load_spec, load_spec_text
from changeover.spec.models import Spec

__all__ = ["Spec", "SpecError", "load_spec", "load_spec_text"]
