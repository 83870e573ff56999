"""Sign-up, login, token refresh, logout and passwords."""
