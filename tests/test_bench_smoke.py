"""``python -m bench --quick`` runs and writes the JSON the docs describe.

A smoke test only: it checks that every benchmark runs (or says why it was skipped) and
that the JSON has its keys.  No timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGET_IDS = ["a", "b", "c", "d.memory", "d.get", "e"]


def test_python_m_bench_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "targets" in result.stdout

    doc = json.loads(out.read_text())
    assert set(doc) == {"meta", "results", "targets"}
    meta = doc["meta"]
    for key in ("date", "mode", "python", "kernel", "cpu_count", "versions", "elapsed_s"):
        assert key in meta
    assert meta["mode"] == "quick"

    results = doc["results"]
    for key in ("a", "b", "c", "d", "e", "live_sandbox"):
        assert key in results
    assert "pinfs" in results["a"]["contenders"]
    for op in ("mkdir_rmdir", "create_unlink"):
        assert "pinfs" in results["b"][op]["contenders"]
    assert {"pinfs_depth1", "pinfs_depth16"} <= set(results["c"]["contenders"])
    assert "pinfs" in results["c"]["derived"]
    assert results["d"]["n"] == 1000
    for layout in ("flat", "fanout"):
        d = results["d"]["layouts"][layout]
        for key in ("build_s", "rss_per_pin_bytes", "tracemalloc_per_pin_bytes", "get_ratio"):
            assert key in d
    assert results["e"]["status"] in {"ok", "skipped"}
    # a contender that did not run says why
    for section in (results["a"], results["b"]["mkdir_rmdir"], results["c"]):
        for name in ("live", "pyfakefs", "live_depth1"):
            if name in section["skipped"]:
                assert section["skipped"][name]

    assert [t["id"] for t in doc["targets"]] == TARGET_IDS
    for t in doc["targets"]:
        assert t["status"] in {"PASS", "FAIL", "SKIP"}
        assert t["detail"]


def test_python_m_bench_reports_skips(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--no-live",
            "--only",
            "a,c",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(out.read_text())
    assert doc["results"]["a"]["skipped"]["live"] == "--no-live"
    assert "skipped_reason" in doc["results"]["d"]
    status = {t["id"]: t["status"] for t in doc["targets"]}
    assert status["a"] == status["c"] == status["d.memory"] == status["e"] == "SKIP"


def test_the_bench_shows_progress_and_fails_on_a_failed_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FAIL target makes ``python -m bench`` exit 1 (``--report-only`` exits 0), and
    every section announces itself on stderr before it runs."""
    import bench.run as bench_run

    failing = [{"id": "e", "target": "a planted target", "status": "FAIL", "detail": "planted"}]
    monkeypatch.setattr(bench_run, "evaluate_targets", lambda results, judged: failing)
    args = ["--quick", "--no-live", "--only", "e", "--json", str(tmp_path / "b.json")]
    assert bench_run.main(args) == 1
    err = capsys.readouterr().err
    assert "section e: PinningMachine steps per second" in err
    assert "targets failed: e" in err
    assert bench_run.main([*args, "--report-only"]) == 0


def test_python_m_bench_profile_prints_calls_per_op() -> None:
    """``python -m bench.profile`` profiles each loop it is given (a smoke test: it
    asserts the report's shape, no timing)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.profile",
            *("--loops", "cycle,get16", "--iterations", "50", "--top", "3", "--sampler"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for loop in ("cycle", "get16"):
        assert f"=== {loop}: 50 ops;" in result.stdout
    assert result.stdout.count("Python calls per op") == 2
    assert result.stdout.count("--- sampler") == 2  # a profile, or why there is none


def test_python_m_bench_machine_prints_the_floor_of_e() -> None:
    """``python -m bench.machine`` runs the real machine, its empty-bodied floor and
    the bare rules (a smoke test: the report's shape, no timing)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.machine",
            *("--examples", "3", "--reps", "1", "--seeds", "2"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CPU us per step, median over 2 seeds")
    assert len(lines) == 4
    assert lines[1].split()[0] == "PinningMachine"
    assert lines[2].split()[:2] == ["its", "rules,"]
    assert lines[3].split()[1:3] == ["rules", "without"]
    assert all(line.count("seeds:") == 1 for line in lines[1:])
