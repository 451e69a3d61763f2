"""Thin activity functions: decode the payload, call a handler in shared.pipeline.steps, return its result."""
