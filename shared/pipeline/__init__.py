"""What the triggers and activities do, as plain functions over the ports (shared/bootstrap.Services)."""
