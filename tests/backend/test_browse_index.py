"""A version's asset ids for image requests (``VersionIndex.ids``): exact answers whether the ids are SHA-1s
(sorted 64-bit keys) or anything else (a set)."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from ymir_backend.services.browse import _sorted_ids


def test_sha1_ids_are_found_exactly() -> None:
    ids = sorted(hashlib.sha1(str(i).encode()).hexdigest() for i in range(1000))
    twin = ids[7][:16] + ("0" * 24 if ids[7][16:] != "0" * 24 else "1" * 24)  # same key, another id
    found = _sorted_ids(pa.array(ids + [ids[3]]))  # a repeated id too
    assert found is not None
    assert all(i in found for i in ids)
    for absent in (twin, "f" * 40, "0" * 40, ids[5][:39], ids[5] + "0", "G" * 40, ""):
        assert absent not in found, absent


def test_other_ids_fall_back_to_a_set() -> None:
    assert _sorted_ids(pa.array(["a" * 40, "not-a-hash"])) is None
    assert _sorted_ids(pa.array(["Z" * 40])) is None
    assert _sorted_ids(pa.array([], pa.string())) is None
