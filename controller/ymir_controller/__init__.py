"""ymir_controller: YMIR's task engine (Celery). ``protocol`` is importable without Celery."""

__version__ = "0.1.0"
