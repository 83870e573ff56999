"""Dataset groups and versions, and the tasks that make versions (import, merge, filter, ...)."""
