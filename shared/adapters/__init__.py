"""Adapters: the ports of shared/ports.py on real services, and the fakes beside them."""
