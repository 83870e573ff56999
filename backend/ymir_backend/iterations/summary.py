"""Per-round summaries of an iteration list: training-set size, map50/map50_95 and their change.

Listing the rounds of a project must not cost queries per round (a project at round 40 would make
the GUI's iteration chart slow): every figure is read with a fixed number of queries over all rounds
asked for, and the previous round's figures come from the same batch, never from a recursive call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ymir_backend.models import DatasetVersion, Iteration, IterationStep, ModelVersion


def summaries(db: Session, rounds: Sequence[Iteration]) -> dict[int, dict[str, Any]]:
    """Summary of each round in ``rounds`` by iteration id (4 queries whatever the number of rounds)."""
    if not rounds:
        return {}
    project_ids = {it.project_id for it in rounds}
    numbers = {it.round - 1 for it in rounds}
    previous = {
        (p.project_id, p.round): p
        for p in db.scalars(
            select(Iteration).where(Iteration.project_id.in_(project_ids), Iteration.round.in_(numbers))
        )
    }
    every = {it.id: it for it in [*rounds, *previous.values()]}
    merges = {
        s.iteration_id: s.output_dataset_id
        for s in db.scalars(
            select(IterationStep).where(IterationStep.iteration_id.in_(every), IterationStep.name == "merge")
        )
    }

    def training_set(it: Iteration) -> int | None:
        return merges.get(it.id) or it.training_dataset_id

    dataset_ids = {d for it in every.values() if (d := training_set(it))}
    rows = db.execute(
        select(DatasetVersion.id, DatasetVersion.asset_count).where(DatasetVersion.id.in_(dataset_ids))
    ).all()
    sizes: dict[int, int] = {row[0]: row[1] for row in rows}
    model_ids = {it.result_model_id for it in every.values() if it.result_model_id}
    maps = {m.id: m for m in db.scalars(select(ModelVersion).where(ModelVersion.id.in_(model_ids)))}

    def figures(it: Iteration) -> tuple[int | None, ModelVersion | None]:
        ds = training_set(it)
        return (sizes.get(ds) if ds else None), maps.get(it.result_model_id or -1)

    out: dict[int, dict[str, Any]] = {}
    for it in rounds:
        size, model = figures(it)
        prev = previous.get((it.project_id, it.round - 1))
        prev_size, prev_model = figures(prev) if prev is not None else (None, None)
        now = model.map50_95 if model else None
        before = prev_model.map50_95 if prev_model else None
        out[it.id] = {
            "training_set_size": size,
            "map50_95": now,
            "map50": model.map50 if model else None,
            "training_set_change": (size - prev_size) if size is not None and prev_size is not None else None,
            "map50_95_change": (now - before) if now is not None and before is not None else None,
        }
    return out
