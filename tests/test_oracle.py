"""The oracle: the catalog on the live kernel and on pinfs (LINUX_6_18), step for step.

The live comparisons run where the machine allows it (Linux x86_64, root, unshare,
bpf(2)) and are skipped with the reason elsewhere; tests/test_scenario_pinfs.py
compares pinfs with the recorded results everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pinfs.base.profiles
from pinfs import scenario as S
from pinfs.live.kernel import live_unavailable_reason
from pinfs.oracle import KNOWN_DIVERGENCES, compare, known_divergence, main, summary

CATALOG = Path(__file__).parent / "scenarios"
FILES = sorted(CATALOG.rglob("*.scn"))


def _profile() -> pinfs.base.profiles.Profile:
    profile = getattr(pinfs.base.profiles, "LINUX_6_18", None)
    if profile is None:
        pytest.skip("LINUX_6_18 profile not available yet")
    assert isinstance(profile, pinfs.base.profiles.Profile)
    return profile


def _need_live() -> None:
    reason = live_unavailable_reason()
    if reason is not None:
        pytest.skip(f"live kernel unavailable: {reason}")


@pytest.mark.live
@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CATALOG)) for p in FILES])
def test_catalog_agrees_with_live_kernel(path: Path) -> None:
    profile = _profile()
    _need_live()
    report = compare(path, profile)
    assert report.live_reason is None
    if not report.ok:
        pytest.fail(report.format(only_problems=True), pytrace=False)


# --------------------------------------------------------------------------- the tool itself

SMALL = """\
# a small scenario for the oracle's own tests
profile LINUX_6_18
task root uid=0 gid=0 groups= caps=all umask=022
task user uid=1000 gid=1000 groups=1000 caps= umask=022
root mkdir /mnt 0o755                    -> ok
root mount bpf /mnt bpf                  -> ok
root map_create BPF_MAP_TYPE_ARRAY 4 4 1 -> fd $m
root obj_pin $m /mnt/m                   -> ok
user obj_get /mnt/m                      -> EACCES
"""


def test_compare_without_live_uses_the_file() -> None:
    _profile()
    report = compare(S.loads(SMALL, "small"), "LINUX_6_18", use_live=False)
    assert report.ok
    assert report.live_reason == "not requested"
    assert [r.pinfs for r in report.rows][-1] == "EACCES"
    wrong = SMALL.replace("-> EACCES", "-> fd $g")
    bad = compare(S.loads(wrong, "wrong"), "LINUX_6_18", use_live=False)
    assert [r.lineno for r in bad.disagreements] == [9]
    text = bad.format()
    assert "line 9: disagreement" in text
    assert "expected" in text.splitlines()[3]
    assert summary([report, bad]).startswith("2 scenarios, 10 steps, 1 disagreements")


def test_unknown_profile_is_an_error_listing_the_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown profile 'LINUX_9_99'; valid names: seed, "):
        compare(S.loads(SMALL.replace("LINUX_6_18", "LINUX_9_99"), "x"), use_live=False)


def test_known_divergences_are_documented_and_matched() -> None:
    for name, div in KNOWN_DIVERGENCES.items():
        assert len(div.reason) > 40, name
    step = S.loads("task r\nr open /mnt/maps.debug\n").steps[0]
    assert known_divergence(step, "ENOENT", "EIO") == "preload-debug-files"
    step = S.loads("task r\nr unshare CLONE_NEWUSER|CLONE_NEWNS\n").steps[0]
    assert known_divergence(step, "EPERM", "ok") == "live-sandbox-chroot-userns"
    step = S.loads("task r\nr prog_load 1 b''\n").steps[0]
    assert known_divergence(step, "EINVAL", "fd $p") == "verifier-analysis"
    step = S.loads("task r\nr open /mnt/m\n").steps[0]
    assert known_divergence(step, "ENOENT", "EIO") is None


def test_main_exit_status_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _profile()
    good = tmp_path / "good.scn"
    good.write_text(SMALL)
    assert main([str(good), "--profile", "LINUX_6_18"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("1 scenarios, 5 steps, 0 disagreements")
    bad = tmp_path / "bad.scn"
    bad.write_text(SMALL.replace("-> EACCES", "-> ENOENT"))
    assert main([str(tmp_path), "-q"]) == 1
    out = capsys.readouterr().out
    assert "2 scenarios, 10 steps" in out
    assert main([str(tmp_path / "none.scn")]) == 2


@pytest.mark.live
def test_record_freezes_live_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need_live()
    path = tmp_path / "draft.scn"
    path.write_text(
        "task root uid=0 gid=0 groups= caps=all umask=022\n"
        "root mkdir /mnt 0o755\nroot mount bpf /mnt bpf\nroot obj_get /mnt/m\n"
        "root map_create BPF_MAP_TYPE_ARRAY 4 4 1\n"
    )
    assert main([str(path), "--record"]) == 0
    text = path.read_text()
    assert "root obj_get /mnt/m" in text and "-> ENOENT" in text
    assert "-> fd $m" in text
    assert S.load(path).steps[0].expect == S.Ok()


@pytest.mark.live
def test_live_and_pinfs_report_side_by_side() -> None:
    _profile()
    _need_live()
    report = compare(S.loads(SMALL, "small"), "LINUX_6_18")
    assert report.live_reason is None
    assert report.ok, report.format()
    assert [r.live for r in report.rows] == [r.pinfs for r in report.rows]
    assert "live" in report.format().splitlines()[1]
