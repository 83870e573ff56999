"""Projects and sharing them with other users."""
