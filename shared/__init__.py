"""The render pipeline's domain, its ports and its adapters."""
