"""The step before every repository-bound task: the repository exists and knows the project's classes.

The API never writes a repository (docs/architecture.md): a request carries the project's labels and
the engine, holding the task, creates the repository on first use and brings its label file up to date.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mir.errors import InvalidLabelError
from mir.ops import history
from mir.store.lock import write_lock
from ymir_controller.protocol import LabelSpec


def prepare_repo(root: Path, labels: list[LabelSpec], *, internal: Path) -> None:
    """Create the repository at ``root`` if it is missing, then add ``labels`` to its label file.

    Creation is serialised by a lock per repository in the controller's folder, held across mir's
    init (folder and first commit), so a task never sees a half-made repository and two first tasks
    of a project do not both create it. The labels are added in one write: all of them or none.

    Raises:
        InvalidLabelError: a label or alias the repository cannot take, naming it and the fix.
    """
    locks = internal / "repo-init"
    locks.mkdir(parents=True, exist_ok=True)
    with write_lock(locks / f"{hashlib.sha256(str(root).encode()).hexdigest()[:24]}.lock"):
        if not (root / ".mir").exists():
            history.init(root=root)
    if not labels:
        return
    try:
        history.add_labels(root=root, labels=[(spec.name, spec.aliases) for spec in labels])
    except InvalidLabelError as e:
        raise InvalidLabelError(
            f"the project's labels do not fit its repository: {e.message}",
            fix="change the project's labels so that every name and alias names one class only "
            f"({e.fix}), then retry the task",
        ) from e
