"""Release versions, notes and trains: pure decisions from commits, plus a thin git layer.

Invariant: everything here except `git` is pure (values in, values out; `changelog`
only writes the file it is given); `git` reads the repository and writes only what the
pure core decided (an annotated tag). No agent, proxy or pydantic: the `[releases]`
spec model lives in `changeover.spec.releases`. This `__init__` re-exports nothing.
"""
