"""cluster domain."""
