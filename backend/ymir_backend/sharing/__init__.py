"""The sharing folder, browsed (what a server-path import can read)."""
