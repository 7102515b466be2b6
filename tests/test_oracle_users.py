"""The oracle for users: which profile a scenario runs under, the installed catalog,
and the known-divergence table of docs/oracle.md kept equal to the code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pinfs import Kernel
from pinfs import scenario as S
from pinfs.base import profiles
from pinfs.oracle import (
    KNOWN_DIVERGENCES,
    compare,
    divergence_table,
    live_profile,
    main,
    profile_for_release,
    profile_named,
    shipped_catalog,
)

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "oracle.md"

NO_PROFILE = """\
task root uid=0 gid=0 groups= caps=all umask=022
root mkdir /mnt 0o755                    -> ok
root mount bpf /mnt bpf                  -> ok
root symlink /x /mnt/l                   -> ok
"""


@pytest.mark.parametrize(
    ("release", "preset"),
    [
        ("6.18.44-fc-v1098", "linux-6.18"),
        ("6.18", "linux-6.18"),
        ("7.2.0", "linux-6.18"),
        ("6.17.9", "linux-5.10"),
        ("5.10.0-27-amd64", "linux-5.10"),
        ("5.9.16", "linux-4.7"),
        ("4.7.0", "linux-4.7"),
        ("4.4.302", "linux-4.4"),
        ("4.3.0", "seed"),
        ("3.10.0-1160.el7.x86_64", "seed"),
        ("not-a-version", "linux-6.18"),
    ],
)
def test_release_maps_to_the_nearest_preset_at_or_below(release: str, preset: str) -> None:
    assert profile_for_release(release).name == preset


def test_live_profile_follows_uname() -> None:
    profile, why = live_profile()
    uname = os.uname()
    if uname.sysname == "Linux":
        assert profile == profile_for_release(uname.release)
        assert uname.release in why
    else:
        assert profile == profiles.LATEST


@pytest.mark.parametrize("name", ["6.18", "linux-6.18", "LINUX_6_18", "Linux-6.18", "latest"])
def test_obvious_spellings_of_a_preset(name: str) -> None:
    assert profile_named(name) is profiles.LINUX_6_18


@pytest.mark.parametrize("name", ["6.17", "linux-9.99", "LINUX_6", "", "seed2"])
def test_unknown_profile_names_are_errors_listing_the_presets(name: str) -> None:
    with pytest.raises(ValueError) as err:
        profile_named(name)
    for preset in profiles.PRESETS:
        assert preset in str(err.value)


def test_profile_name_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="profile"):
        profile_named(618)  # type: ignore[arg-type]


def test_scenario_without_profile_line_runs_the_live_kernels_preset() -> None:
    sc = S.loads(NO_PROFILE, "noprof")
    report = compare(sc, use_live=False)
    expected, why = live_profile()
    assert report.profile == expected.name
    assert report.profile_source == why
    assert why in report.format().splitlines()[0]
    # symlinks in bpffs came with v4.10: the seed would refuse, the live preset does not
    if expected.symlinks:
        assert report.rows[-1].pinfs == "ok"


def test_profile_option_overrides_and_is_reported() -> None:
    sc = S.loads(NO_PROFILE, "noprof")
    seed = compare(sc, "seed", use_live=False)
    assert seed.profile == "seed" and seed.profile_source == "--profile"
    assert seed.rows[-1].pinfs == "EPERM"  # no symlinks in bpffs at the seed
    assert compare(sc, "5.10", use_live=False).profile == "linux-5.10"


def test_scenario_profile_line_with_switches() -> None:
    sc = S.loads("profile LINUX_6_18 symlinks=False\n" + NO_PROFILE, "sw")
    report = compare(sc, use_live=False)
    assert report.profile_source == "the scenario's profile line"
    assert report.rows[-1].pinfs == "EPERM"


def test_cli_bad_profile_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "s.scn"
    path.write_text(NO_PROFILE)
    with pytest.raises(SystemExit) as exit_:
        main([str(path), "--profile", "6.17"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown profile '6.17'" in err and "linux-6.18" in err


def test_cli_bad_profile_line_in_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "s.scn"
    path.write_text("profile LINUX_9_9\n" + NO_PROFILE)
    assert main([str(path)]) == 2
    assert "unknown profile 'LINUX_9_9'" in capsys.readouterr().err


def test_exported_trace_carries_its_profile() -> None:
    kernel = Kernel(profile=profiles.LINUX_5_10, trace=True)
    root = kernel.spawn(uid=0)
    root.mkdir("/mnt", 0o755)
    root.mount("bpf", "/mnt", "bpf")
    fd = root.map_create(2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY
    root.obj_pin(fd, "/mnt/m")
    assert kernel.trace is not None
    text = S.from_trace(kernel.trace)
    assert re.search(r"^profile LINUX_5_10$", text, re.M)
    report = compare(S.loads(text, "traced"), use_live=False)
    assert report.profile == "linux-5.10"
    assert report.profile_source == "the scenario's profile line"
    assert [r.call.split()[1] for r in report.rows][-4:] == [
        "mkdir",
        "mount",
        "map_create",
        "obj_pin",
    ]
    assert report.ok, report.format()


# --------------------------------------------------------------------------- the catalog


def test_shipped_catalog_is_the_tests_catalog() -> None:
    catalog = shipped_catalog()
    shipped = sorted(p.relative_to(catalog) for p in catalog.rglob("*.scn"))
    tests = sorted(
        p.relative_to(ROOT / "tests" / "scenarios") for p in ROOT.glob("tests/scenarios/**/*.scn")
    )
    assert shipped == tests and len(shipped) > 100


def test_package_data_ships_the_catalog() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"scenario/catalog/*/*.scn"' in text
    assert (ROOT / "src" / "pinfs" / "scenario" / "catalog").is_symlink()


def test_cli_shipped_runs_a_group_from_the_installed_catalog(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pinfs.oracle.live_unavailable_reason", lambda: "test")
    assert main(["--shipped", "-q", "names"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    count = len(list((shipped_catalog() / "names").rglob("*.scn")))
    assert last.startswith(f"{count} scenarios, ") and "0 disagreements" in last
    with pytest.raises(SystemExit):
        main(["--shipped", "--record"])


# --------------------------------------------------------------------------- the docs table


def test_divergence_table_in_the_docs_is_generated_from_the_code() -> None:
    doc = DOC.read_text()
    match = re.search(
        r"<!-- generated: python -m pinfs.oracle --divergence-table[^\n]*-->\n(.*?)\n"
        r"<!-- end of generated table -->",
        doc,
        re.S,
    )
    assert match, "the generated table's markers are missing from docs/oracle.md"
    assert match.group(1) == divergence_table()
    for name in KNOWN_DIVERGENCES:
        assert f"| `{name}` |" in match.group(1)


def test_cli_prints_the_divergence_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--divergence-table"]) == 0
    assert capsys.readouterr().out.strip() == divergence_table()
