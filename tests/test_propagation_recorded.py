"""pinfs against the recorded answers of Linux 6.18 to the propagation scenarios of
``test_propagation_live.py``: the same check without root (the live test re-runs
them when it can; ``PINFS_RECORD_PROPAGATION=1`` as root rewrites the recording)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from test_propagation_live import RECORD_BASE, RECORDED, SCENARIOS, agent, run_pinfs


def _recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_matches_the_recorded_live_run(name: str) -> None:
    recorded = _recorded()[name]
    assert recorded["ops"] == json.loads(json.dumps(SCENARIOS[name])), "re-record the file"
    model = run_pinfs(SCENARIOS[name], RECORD_BASE)
    assert model["results"] == recorded["results"]
    assert agent.normalize(model["views"], RECORD_BASE) == recorded["views"]


def test_the_recording_has_every_scenario() -> None:
    assert sorted(_recorded()) == sorted(SCENARIOS)
