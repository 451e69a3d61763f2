"""Benchmarks of the render pipeline (`make bench`, `python -m bench`, or one `python -m bench.<name>`).

Each benchmark reports figures beside their targets; none asserts a time limit.
"""
