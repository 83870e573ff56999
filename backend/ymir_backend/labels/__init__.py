"""Labels: class names with aliases, per user, used across the user's projects."""
