"""Deterministic orchestration code: no I/O, no environment, no clocks but the context's."""
