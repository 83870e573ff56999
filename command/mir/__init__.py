"""mir: YMIR's versioned dataset store (columnar snapshots, git-like history) and its CLI."""

__version__ = "0.1.0"
