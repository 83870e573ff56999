"""Settings and fixtures for the whole suite, read before any test module imports torch: one OpenMP
thread per process, and the run's one Label Studio (tests/labeling and the GUI's labeling in tests/web
use the same server)."""

import os

# One OpenMP thread per process (torch in the tests, the executors that workers and ``mir train`` start):
# on two cores shared by the test, the API, the worker and the executor, an operation split over two
# threads waits for the second to be scheduled. A one-epoch training of the tiny model on 2,500 16x16
# images (tests/backend/test_real_data.py) took 13 s on one thread and 290 s on two on a busy machine.
# Set OMP_NUM_THREADS to give the tests more.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# registers the session fixtures once; the first starts Label Studio as the run begins, when a test needs it
from tests.label_studio import _label_studio_early, label_studio  # noqa: E402, F401
