"""Evaluation results as the API shows them: classes by name.

mir stores an evaluation keyed by class id (ids are what its tables hold) with a ``class_names`` map beside
it. A user, and the GUI's charts, want names: ``{"circle": {"ap": ...}}``, not ``{"0": ...}``.
"""

from __future__ import annotations

from typing import Any

_BY_CLASS = ("per_class", "pr_curves", "counts")


def by_class_name(evaluation: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``evaluation`` whose per-class parts and confusion classes are keyed by class name.

    Ids without a name (an evaluation made before labels were renamed away) keep their id.
    """
    names = {str(k): str(v) for k, v in (evaluation.get("class_names") or {}).items()}
    out = dict(evaluation)
    for key in _BY_CLASS:
        part = evaluation.get(key)
        if isinstance(part, dict):
            out[key] = {names.get(str(k), str(k)): v for k, v in part.items()}
    confusion = evaluation.get("confusion")
    if isinstance(confusion, dict) and isinstance(confusion.get("classes"), list):
        out["confusion"] = {**confusion, "classes": [names.get(str(c), str(c)) for c in confusion["classes"]]}
    return out
