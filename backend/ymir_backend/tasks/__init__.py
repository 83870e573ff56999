"""Tasks: the one place that launches work on the engine, follows it and stores its results."""
