"""devhost: a local stand-in for the Azure Functions host and the Durable Functions extension."""
