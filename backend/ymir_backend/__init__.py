"""ymir_backend: YMIR's REST API and its database."""

__version__ = "0.1.0"
