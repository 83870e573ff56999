"""Models (machine-learning ones; ``ymir_backend.models`` holds the database tables): training,
mining, inference, import, export and verification."""
