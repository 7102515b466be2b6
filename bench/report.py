"""Targets, the stdout table and the JSON document."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any

__all__ = ["GIB", "evaluate_targets", "render", "write_json"]

GIB = 1 << 30
MIB = 1 << 20
ONE_MILLION = 1_000_000
# Issue 17's targets (issue 7's were 10x pyfakefs, a 3x component/cycle ratio, 1 GiB,
# 1.2x and 2,000 steps/s).
PYFAKEFS_FACTOR = 40
COMPONENT_US = 0.2
MEMORY_1M_BYTES = 500 * MIB
FLAT_GET = 1.1
MACHINE_STEPS = 5000
#: Below this N (the --quick run) the scale figures are reported but not judged.
MIN_JUDGED_N = 100_000

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


def _target(
    tid: str, text: str, status: str, detail: str, value: float | None = None, **extra: Any
) -> dict[str, Any]:
    return {"id": tid, "target": text, "status": status, "value": value, "detail": detail, **extra}


def _ops(section: dict[str, Any], name: str) -> float | None:
    c = section.get("contenders", {}).get(name)
    return None if c is None else float(c["ops_per_s_median"])


def _skip_reason(section: dict[str, Any], *names: str) -> str:
    if "skipped_reason" in section:
        return str(section["skipped_reason"])
    skipped = section.get("skipped", {})
    for n in names:
        if n in skipped:
            return f"{n}: {skipped[n]}"
    return "not measured"


def evaluate_targets(results: dict[str, Any], judged: bool = True) -> list[dict[str, Any]]:
    """PASS/FAIL/SKIP per target; with ``judged=False`` (``--quick``, whose repetitions
    are too short to mean anything) every figure is reported but marked SKIP."""
    out = _evaluate(results)
    if not judged:
        for t in out:
            if t["status"] != SKIP:
                t["detail"] = f"not judged in --quick mode (would be {t['status']}): {t['detail']}"
                t["status"] = SKIP
    return out


def _of_cycle(entry: dict[str, Any]) -> str:
    if "per_component_over_cycle" not in entry:
        return ""
    return f" ({entry['per_component_over_cycle']:.4f} of its {entry['cycle_us']:.2f} us cycle)"


def _evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    # (a)
    a = results.get("a", {})
    text = "(a) pinfs >= 0.25x the live kernel's pin+get+close+unlink cycles/s"
    p, live = _ops(a, "pinfs"), _ops(a, "live")
    if p is None or live is None:
        out.append(_target("a", text, SKIP, _skip_reason(a, "live", "pinfs")))
    else:
        r = p / live
        out.append(
            _target(
                "a",
                text,
                PASS if r >= 0.25 else FAIL,
                f"pinfs {p:,.0f}/s vs live {live:,.0f}/s = {r:.3f}x (need >= 0.25x, parity 1x)",
                r,
            )
        )

    # (b)
    b = results.get("b", {})
    text = f"(b) pinfs >= {PYFAKEFS_FACTOR}x pyfakefs (mkdir+rmdir and create+unlink)"
    parts, ratios, missing = [], [], None
    for op in ("mkdir_rmdir", "create_unlink"):
        sec = b.get(op, {})
        p, f = _ops(sec, "pinfs"), _ops(sec, "pyfakefs")
        if p is None or f is None:
            missing = _skip_reason(sec, "pyfakefs", "pinfs") if sec else _skip_reason(b)
            break
        ratios.append(p / f)
        parts.append(f"{op} {p / f:.1f}x")
    if missing is not None:
        out.append(_target("b", text, SKIP, missing))
    else:
        r = min(ratios)
        out.append(
            _target(
                "b",
                text,
                PASS if r >= PYFAKEFS_FACTOR else FAIL,
                ", ".join(parts) + f" (need >= {PYFAKEFS_FACTOR}x)",
                r,
            )
        )

    # (c)
    c = results.get("c", {})
    text = f"(c) pinfs <= {COMPONENT_US} us per path component"
    d = c.get("derived", {})
    pi = d.get("pinfs")
    if pi is None:
        out.append(_target("c", text, SKIP, d.get("reason") or _skip_reason(c, "pinfs_depth1")))
    else:
        per = float(pi["per_component_us"])
        li = d.get("live")
        live_text = (
            f"; live {li['per_component_us']:.4f} us/component" if li else "; live not measured"
        )
        out.append(
            _target(
                "c",
                text,
                PASS if per <= COMPONENT_US else FAIL,
                f"pinfs {per:.3f} us/component{_of_cycle(pi)}{live_text} "
                f"(need <= {COMPONENT_US} us)",
                per,
            )
        )

    # (d)
    dd = results.get("d", {})
    layouts: dict[str, Any] = dd.get("layouts", {})
    text_m = f"(d) 1,000,000 pins in at most {MEMORY_1M_BYTES // MIB} MiB of memory"
    text_g = f"(d) OBJ_GET flat: at 1,000,000 entries within {FLAT_GET}x of 1,000 entries"
    if not layouts:
        reason = _skip_reason(dd)
        out.append(_target("d.memory", text_m, SKIP, reason))
        out.append(_target("d.get", text_g, SKIP, reason))
    else:
        n = int(dd["n"])
        measured = n >= ONE_MILLION
        worst_total, parts = 0.0, []
        for name, r in layouts.items():
            if measured:
                total = float(r["rss_after_bytes"])
                how = "RSS"
            else:  # extrapolate the growth per pin to 1M
                per = max(float(r["rss_per_pin_bytes"]), float(r["tracemalloc_per_pin_bytes"]))
                total = float(r["rss_before_bytes"]) + per * ONE_MILLION
                how = "projected"
            worst_total = max(worst_total, total)
            parts.append(
                f"{name}: {how} {total / MIB:,.0f} MiB ({r['rss_per_pin_bytes']:.0f} B/pin RSS, "
                f"{r['tracemalloc_per_pin_bytes']:.0f} B/pin tracemalloc)"
            )
        note = "" if measured else f"; projected from N={n:,} (run --full to measure 1M)"
        judged = n >= MIN_JUDGED_N
        if not judged:
            note += f"; not judged below N={MIN_JUDGED_N:,}"
        out.append(
            _target(
                "d.memory",
                text_m,
                (PASS if worst_total <= MEMORY_1M_BYTES else FAIL) if judged else SKIP,
                "; ".join(parts) + note,
                worst_total,
                measured=measured,
            )
        )
        worst = max(float(r["get_ratio"]) for r in layouts.values())
        parts = [
            f"{name}: {r['get_1k_us']:.2f} us at 1k vs {r['get_n_us']:.2f} us at {n:,} "
            f"= {r['get_ratio']:.3f}x"
            for name, r in layouts.items()
        ]
        note = "" if measured else f"; measured at N={n:,}, not 1M (run --full)"
        if not judged:
            note += f"; not judged below N={MIN_JUDGED_N:,}"
        out.append(
            _target(
                "d.get",
                text_g,
                (PASS if worst <= FLAT_GET else FAIL) if judged else SKIP,
                "; ".join(parts) + f" (need <= {FLAT_GET}x)" + note,
                worst,
                measured=measured,
            )
        )

    # (e)
    e = results.get("e", {})
    text = f"(e) pinfs.testing state machine >= {MACHINE_STEPS:,} steps/s with its checks on"
    if e.get("status") != "ok":
        why = e.get("reason") or e.get("skipped_reason") or "not measured"
        out.append(_target("e", text, SKIP, str(why)))
    else:
        v = float(e["steps_per_s_median"])
        share = e.get("pinfs_share_median")
        inside = f"; {share:.0%} of the time inside pinfs" if share is not None else ""
        out.append(
            _target(
                "e",
                text,
                PASS if v >= MACHINE_STEPS else FAIL,
                f"{v:,.0f} steps/s{inside} (need >= {MACHINE_STEPS:,})",
                v,
            )
        )
    return out


# --------------------------------------------------------------------------- the table


def _fmt_ops(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:,.0f}"


def _series_rows(section: dict[str, Any], title: str) -> Iterable[str]:
    yield f"  {title}"
    for name, s in section.get("contenders", {}).items():
        spread = f"{_fmt_ops(s['ops_per_s_min'])}..{_fmt_ops(s['ops_per_s_max'])}"
        yield (
            f"    {name:<16} {_fmt_ops(s['ops_per_s_median']):>12} ops/s "
            f"{s['us_per_op_median']:>10.3f} us/op   {s['reps']:>2} reps x {s['n_per_rep']:<8,} "
            f"[{spread}]"
        )
    for name, reason in section.get("skipped", {}).items():
        yield f"    {name:<16} skipped: {reason}"
    for name, v in section.get("ratios", {}).items():
        yield f"    ratio {name:<28} {v:.3f}x"


def render(doc: dict[str, Any]) -> str:
    lines: list[str] = []
    m = doc["meta"]
    lines.append(
        f"pinfs benchmarks ({m['mode']}) {m['date']}  Python {m['python']}  "
        f"Linux {m['kernel']}  {m['cpu_count']} cores  {m['cpu_model']}"
    )
    load = m.get("loadavg_at_start")
    load_note = f"; 1-min load average at start {load[0]:.2f}" if load else ""
    lines.append(f"medians over interleaved repetitions; higher ops/s is better{load_note}")
    r = doc["results"]

    def section(key: str, title: str) -> dict[str, Any] | None:
        sec = r.get(key)
        lines.append("")
        lines.append(title)
        if sec is None or "skipped_reason" in sec:
            why = "not run" if sec is None else sec["skipped_reason"]
            lines.append(f"  ({key}) skipped: {why}")
            return None
        return sec  # type: ignore[no-any-return]

    a = section("a", "(a) OBJ_PIN + OBJ_GET + close + unlink of one ARRAY map")
    if a:
        lines.extend(_series_rows(a, "cycles"))
    b = section("b", "(b) plain files on the root fs")
    if b:
        lines.extend(_series_rows(b["mkdir_rmdir"], "mkdir + rmdir"))
        lines.extend(_series_rows(b["create_unlink"], "open(O_CREAT|O_WRONLY) + close + unlink"))
    c = section("c", "(c) path depth: OBJ_GET + close at depth 1 vs 16")
    if c:
        lines.extend(_series_rows(c, "gets"))
        d = c.get("derived", {})
        for who in ("pinfs", "live"):
            x = d.get(who)
            if x:
                lines.append(
                    f"    {who}: {x['per_component_us']:.4f} us per extra component, "
                    f"{x['per_component_over_cycle']:.5f} of a {x['cycle_us']:.3f} us cycle"
                )
        if d.get("pinfs_ratio_over_live_ratio") is not None:
            lines.append(
                f"    pinfs (component/cycle) / live (component/cycle) = "
                f"{d['pinfs_ratio_over_live_ratio']:.2f}x"
            )
        elif d.get("reason"):
            lines.append(f"    comparison skipped: {d['reason']}")
    dd = section("d", "(d) scale: N pins of one map")
    if dd:
        lines.append(f"  N = {dd['n']:,}")
        for name, x in dd["layouts"].items():
            shape = " x ".join(str(v) for v in x["shape"])
            rss, grown = x["rss_after_bytes"] / 2**20, x["rss_growth_bytes"] / 2**20
            lines.append(
                f"    {name:<7} ({shape}): build {x['build_s']:.2f} s "
                f"({x['build_pins_per_s']:,.0f} pins/s); RSS {rss:,.1f} MiB "
                f"(+{grown:,.1f} MiB, {x['rss_per_pin_bytes']:.0f} B/pin); "
                f"tracemalloc {x['tracemalloc_per_pin_bytes']:.0f} B/pin (N={x['tracemalloc_n']:,})"
            )
            lines.append(
                f"    {'':<7} OBJ_GET+close {x['get_1k_us']:.2f} us at 1k, "
                f"{x['get_n_us']:.2f} us at N: {x['get_ratio']:.3f}x"
            )
    e = r.get("e")
    lines.append("")
    lines.append("(e) pinfs.testing state machine")
    if e is None:
        lines.append("  (e) skipped: not run")
    elif e.get("status") != "ok":
        lines.append(f"  (e) skipped: {e.get('reason') or e.get('skipped_reason')}")
    else:
        lines.append(
            f"  {e['machine']}: {e['steps_per_s_median']:,.0f} steps/s (median of "
            f"{len(e['runs'])} runs of {e['examples']} examples x <= "
            f"{e['stateful_step_count']} steps)"
        )
        run = sorted(e["runs"], key=lambda x: x["steps_per_s"])[len(e["runs"]) // 2]
        per = run.get("pinfs_us_per_step")
        if per:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in per.items())
            lines.append(
                f"    per step (median run): pinfs {sum(per.values()):.1f} us ({parts}); "
                f"Hypothesis and rule bodies {run['other_us_per_step']:.1f} us"
            )

    lines.append("")
    lines.append("targets")
    for t in doc["targets"]:
        lines.append(f"  {t['status']:<4}  {t['target']}")
        lines.append(f"        {t['detail']}")
    return "\n".join(lines)


def write_json(doc: dict[str, Any], path: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
