"""Your account and API tokens; user management for the super admin."""
