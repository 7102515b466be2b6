"""Targets, the stdout table and the JSON document."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any

__all__ = ["GIB", "evaluate_targets", "render", "write_json"]

GIB = 1 << 30
ONE_MILLION = 1_000_000
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
    text = "(b) pinfs >= 10x pyfakefs (mkdir+rmdir and create+unlink)"
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
            _target("b", text, PASS if r >= 10 else FAIL, ", ".join(parts) + " (need >= 10x)", r)
        )

    # (c)
    c = results.get("c", {})
    text = (
        "(c) pinfs per-component cost / cycle cost within 3x of the live kernel's "
        "per-component cost / cycle cost"
    )
    d = c.get("derived", {})
    factor = d.get("pinfs_ratio_over_live_ratio")
    if factor is None:
        out.append(_target("c", text, SKIP, d.get("reason") or _skip_reason(c, "live_depth1")))
    else:
        pi, li = d["pinfs"], d["live"]
        out.append(
            _target(
                "c",
                text,
                PASS if factor <= 3 else FAIL,
                f"pinfs {pi['per_component_us']:.3f} us/component = "
                f"{pi['per_component_over_cycle']:.4f} of its {pi['cycle_us']:.2f} us cycle; "
                f"live {li['per_component_us']:.4f} us/component = "
                f"{li['per_component_over_cycle']:.4f} of its {li['cycle_us']:.2f} us cycle; "
                f"factor {factor:.2f}x (need <= 3x)",
                factor,
            )
        )

    # (d)
    dd = results.get("d", {})
    layouts: dict[str, Any] = dd.get("layouts", {})
    text_m = "(d) 1,000,000 pins in under 1 GiB of memory"
    text_g = "(d) OBJ_GET at 1,000,000 entries within 1.2x of 1,000 entries"
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
                f"{name}: {how} {total / GIB:.2f} GiB ({r['rss_per_pin_bytes']:.0f} B/pin RSS, "
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
                (PASS if worst_total < GIB else FAIL) if judged else SKIP,
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
                (PASS if worst <= 1.2 else FAIL) if judged else SKIP,
                "; ".join(parts) + " (need <= 1.2x)" + note,
                worst,
                measured=measured,
            )
        )

    # (e)
    e = results.get("e", {})
    text = "(e) pinfs.testing state machine >= 2,000 steps/s"
    if e.get("status") != "ok":
        why = e.get("reason") or e.get("skipped_reason") or "not measured"
        out.append(_target("e", text, SKIP, str(why)))
    else:
        v = float(e["steps_per_s_median"])
        out.append(
            _target("e", text, PASS if v >= 2000 else FAIL, f"{v:,.0f} steps/s (need >= 2,000)", v)
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
