"""Every catalog scenario on pinfs, against the results recorded from the live kernel.

Runs anywhere (no live kernel needed).  Steps that disagree are failures unless a
documented divergence (:data:`pinfs.oracle.KNOWN_DIVERGENCES`) explains them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pinfs.base.profiles
from pinfs.oracle import compare

CATALOG = Path(__file__).parent / "scenarios"
FILES = sorted(CATALOG.rglob("*.scn"))


def test_catalog_is_large_enough() -> None:
    assert len(FILES) >= 150


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CATALOG)) for p in FILES])
def test_pinfs_matches_recorded_results(path: Path) -> None:
    profile = getattr(pinfs.base.profiles, "LINUX_6_18", None)
    if profile is None:
        pytest.skip("LINUX_6_18 profile not available yet")
    report = compare(path, profile, use_live=False)
    assert all(r.expected is not None for r in report.rows), "unrecorded steps"
    if report.disagreements:
        pytest.fail(report.format(only_problems=True), pytrace=False)
