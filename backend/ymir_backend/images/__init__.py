"""Executor images: the containers (or the built-in executor) tasks run."""
