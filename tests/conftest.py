"""Fixtures shared across test folders: the run's one Label Studio (tests/labeling and the GUI's
labeling in tests/web use the same server)."""

from tests.label_studio import label_studio  # noqa: F401 - registers the session fixture once
