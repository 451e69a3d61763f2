"""HTTP and Event Grid triggers: parse the request or event, call shared.pipeline, answer."""
