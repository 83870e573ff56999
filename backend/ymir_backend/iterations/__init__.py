"""Iterations: YMIR's rounds of prepare mining data, mine, label, merge and train."""
