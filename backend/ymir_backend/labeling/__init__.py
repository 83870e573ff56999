"""Labeling in Label Studio."""
