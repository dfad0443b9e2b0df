"""A benchmark run as files a person can share: JSON (everything), CSV (one row per
variant) and a self-contained HTML page (tables, inline SVG charts, the machine, library
versions and the command that reproduces the run; it loads nothing from the network)."""

from __future__ import annotations

import csv
import io
import json
import shlex
from html import escape
from pathlib import Path
from typing import Optional, Sequence

from ..files import atomic_path, check_writable, describe_os_error
from ..jobs import UserError, to_jsonable
from .runner import BenchmarkRun, BenchmarkSettings, VariantResult
from .svg import box_chart, hbar_chart, line_chart, maybe

FORMATS = ("html", "json", "csv")
CSV_FIELDS = ("label", "name", "kind", "precision", "provider", "threads", "batch", "segment_s",
              "mode", "runs", "p50_ms", "p50_low_ms", "p50_high_ms", "p95_ms", "p99_ms",
              "mean_ms", "std_ms", "min_ms",
              "max_ms", "throughput_per_s", "x_realtime", "speedup_vs_eager", "file_size",
              "load_seconds", "load_rss_bytes", "peak_rss_bytes", "peak_rss_above_baseline",
              "sdr", "path", "cpu", "high_load")


def reproduce_command(paths: Sequence[str | Path], settings: BenchmarkSettings,
                      extra: Sequence[str] = ()) -> str:
    """The ``tfswa-studio benchmark`` command line that runs the same benchmark."""
    args = ["tfswa-studio", "benchmark", *map(str, paths), "--runs", str(settings.runs),
            "--warmup", str(settings.warmup), "--batch", str(settings.batch)]
    if settings.threads:
        args += ["--threads", ",".join(map(str, settings.threads))]
    if settings.segments:
        args += ["--segment", ",".join(f"{s:g}" for s in settings.segments)]
    if settings.song is not None:
        args += ["--song", str(settings.song)]
    if settings.profile:
        args.append("--profile")
    if not settings.memory:
        args.append("--no-memory")
    return shlex.join([*args, *extra])


def _num(value: float) -> str:
    """A CSV cell: empty where there is no figure (NaN: too few runs for an interval)."""
    return "" if value != value else f"{value:.3f}"


def csv_row(run: BenchmarkRun, r: VariantResult) -> dict:
    s = r.latency
    return {"label": r.label, "name": r.name, "kind": r.kind, "precision": r.precision,
            "provider": r.provider, "threads": r.threads, "batch": r.batch,
            "segment_s": r.segment_s, "mode": r.mode, "runs": s.runs,
            "p50_ms": f"{s.p50:.3f}", "p50_low_ms": _num(s.p50_low),
            "p50_high_ms": _num(s.p50_high), "p95_ms": f"{s.p95:.3f}", "p99_ms": f"{s.p99:.3f}",
            "mean_ms": f"{s.mean:.3f}", "std_ms": f"{s.std:.3f}", "min_ms": f"{s.min:.3f}",
            "max_ms": f"{s.max:.3f}", "throughput_per_s": f"{r.throughput:.4f}",
            "x_realtime": f"{r.x_realtime:.3f}",
            "speedup_vs_eager": "" if r.speedup is None else f"{r.speedup:.3f}",
            "file_size": r.file_size or "", "load_seconds": f"{r.load_seconds:.3f}",
            "load_rss_bytes": r.load_rss_bytes or "", "peak_rss_bytes": r.peak_rss_bytes or "",
            "peak_rss_above_baseline": r.peak_rss_above_baseline or "",
            "sdr": "" if r.sdr is None else f"{r.sdr:.2f}", "path": r.path or "",
            "cpu": run.machine.cpu, "high_load": run.machine.high_load}


def render_csv(run: BenchmarkRun) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in run.results:
        writer.writerow(csv_row(run, r))
    return out.getvalue()


def render_json(run: BenchmarkRun) -> str:
    return json.dumps(to_jsonable(run), indent=2)


# ----------------------------------------------------------------------------- HTML

STYLE = """body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f2f4f4}td.n{text-align:right}.warn{background:#fdecea;border:1px solid #e0a39c;
padding:8px}code{background:#f4f6f7;padding:2px 4px}svg{display:block;margin:10px 0}"""


def _mib(n: Optional[int]) -> str:
    return "–" if not n else f"{n / 2**20:.1f} MiB"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f'<td{" class=n" if i >= numeric_from else ""}>{escape(str(c))}</td>'
        for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def p50_interval(r: VariantResult) -> str:
    s = r.latency
    if s.p50_uncertainty_pct == float("inf"):
        return "too few runs"
    return f"{s.p50_low:.1f}-{s.p50_high:.1f}" + ("" if s.settled else " (not settled)")


def results_table(run: BenchmarkRun) -> str:
    rows = [[r.label, f"{r.latency.p50:.1f}", p50_interval(r), f"{r.latency.p95:.1f}",
             f"{r.latency.p99:.1f}", f"{r.latency.mean:.1f} ± {r.latency.std:.1f}",
             f"{r.throughput:.2f}",
             f"{r.x_realtime:.1f}x", maybe(r.speedup, ".2f", "x"), _mib(r.file_size),
             f"{r.load_seconds:.2f}", _mib(r.peak_rss_bytes), maybe(r.sdr, ".2f", " dB")]
            for r in run.results]
    return _table(["variant", "p50 ms", "p50 95 % interval", "p95 ms", "p99 ms",
                   "mean ± std ms", "segments/s",
                   "real time", "vs eager", "file", "load s", "peak RSS", "SDR"], rows)


def claims_table(run: BenchmarkRun) -> str:
    """The claimed figures (e.g. the original report's) beside the measured ones."""
    rows = []
    for label, claim in run.claims.items():
        try:
            r = run.result(label)
        except KeyError:
            continue
        rows.append([label, maybe(claim.get("size_mb"), ".1f", " MB"), _mib(r.file_size),
                     maybe(claim.get("latency_ms"), ".0f", " ms"), f"{r.latency.p50:.0f} ms",
                     maybe(claim.get("throughput"), ".1f", " it/s"), f"{r.throughput:.1f} it/s"])
    return _table(["variant", "claimed size", "measured size", "claimed latency",
                   "measured p50", "claimed throughput", "measured"], rows) if rows else ""


def charts(run: BenchmarkRun) -> list[str]:
    res = run.results
    out = [hbar_chart([(r.label, r.latency.p50, [r.latency.p95, r.latency.p99],
                        f"{r.latency.p50:.1f} ms") for r in res],
                      "Latency per run: p50 bar, p95 and p99 whiskers", "milliseconds"),
           line_chart([(r.label, list(range(1, len(r.samples_ms) + 1)), r.samples_ms)
                       for r in res], "Every timed run, in order", "run", "ms"),
           box_chart([(r.label, r.samples_ms) for r in res],
                     "Distribution of run times (min, quartiles, median, max)", "milliseconds")]
    if any(r.speedup for r in res):
        out.append(hbar_chart([(r.label, r.speedup or 0.0, [], maybe(r.speedup, ".2f", "x"))
                               for r in res], "Speed-up against eager PyTorch (p50)", "x"))
    sweep = _sweep_chart(run)
    if sweep:
        out.append(sweep)
    for r in res:
        if r.profile and r.profile.by_type:
            rows = [(t.name, t.ms, [], f"{t.ms:.1f} ms, {t.share * 100:.0f} %")
                    for t in r.profile.by_type[:15]]
            out.append(hbar_chart(rows, f"Operator profile: {r.label} (kernel time per run)",
                                  "milliseconds"))
    return out


def _sweep_chart(run: BenchmarkRun) -> str:
    threads = sorted({r.threads for r in run.results})
    if len(threads) < 2:
        return ""
    series = {}
    for r in run.results:
        key = f"{r.name} · {r.segment_s:g} s"
        series.setdefault(key, ([], []))
        series[key][0].append(r.threads)
        series[key][1].append(r.latency.p50)
    return line_chart([(k, xs, ys) for k, (xs, ys) in series.items()],
                      "p50 latency against CPU threads", "threads", "ms")


def machine_table(run: BenchmarkRun) -> str:
    m = run.machine
    rows = [["CPU", m.cpu], ["instruction sets", ", ".join(m.flags) or "none of note"],
            ["cores", str(m.cores)], ["system", m.system],
            ["load average", f"{m.load_before} before, "
             f"{max(m.load_during, default=float('nan')):.2f} at most during"],
            *[[name, version] for name, version in m.versions.items()]]
    return _table(["", ""], rows, numeric_from=99)


def settings_table(run: BenchmarkRun) -> str:
    s = run.settings
    rows = [["mode", s.mode + (f" ({s.song})" if s.song else "")], ["runs", str(s.runs)],
            ["warm-up runs", str(s.warmup)], ["threads", ", ".join(map(str, s.thread_counts))],
            ["segment", ", ".join(f"{x:g} s" for x in s.segments) or "the model's"],
            ["batch", str(s.batch)], ["order", " → ".join(run.order) + " (round robin)"],
            ["started", run.started], ["took", f"{run.seconds:.1f} s"]]
    return _table(["", ""], rows, numeric_from=99)


def render_html(run: BenchmarkRun) -> str:
    warn = (f'<p class="warn"><b>High load.</b> {escape(run.machine.load_note)}</p>'
            if run.machine.high_load else "")
    notes = "".join(f"<li>{escape(n)}</li>" for n in run.notes)
    claims = claims_table(run)
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<title>TFSWA Studio benchmark</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>TFSWA Studio benchmark</h1>",
        f"<p>{escape(run.machine.summary())}, {run.started}</p>", warn,
        "<h2>Results</h2>", results_table(run),
        ("<h2>Claimed and measured</h2>" + claims) if claims else "",
        "<h2>Charts</h2>", *charts(run),
        "<h2>Machine and libraries</h2>", machine_table(run),
        "<h2>Settings</h2>", settings_table(run),
        f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "",
        "<h2>Reproduce</h2>", f"<p><code>{escape(run.command or '(not recorded)')}</code></p>",
        "</body></html>"]
    return "\n".join(p for p in parts if p)


RENDERERS = {"html": render_html, "json": render_json, "csv": render_csv}


def report_paths(path: Path, formats: Optional[Sequence[str]] = None) -> dict[str, Path]:
    """Which files ``save_report`` writes: the path's own format if its suffix names one,
    else every format beside each other (``report.html``, ``report.json``, ``report.csv``)."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if formats is None:
        formats = [suffix] if suffix in FORMATS else list(FORMATS)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UserError(f"unknown report format {', '.join(unknown)} (use html, json or csv)")
    stem = path.with_suffix("") if suffix in FORMATS else path
    return {f: stem.with_name(f"{stem.name}.{f}") for f in formats}


def save_report(run: BenchmarkRun, path: Path | str, formats: Optional[Sequence[str]] = None,
                *, overwrite: bool = False) -> list[Path]:
    """Write the run as HTML, JSON and/or CSV (see :func:`report_paths`); each file is
    written under a temporary name and renamed when complete, and an existing file is
    never replaced unless ``overwrite``."""
    targets = report_paths(Path(path), formats)
    for target in targets.values():          # all or nothing: check every name first
        check_writable(target, overwrite)
    texts = {fmt: RENDERERS[fmt](run) for fmt in targets}
    written = []
    for fmt, target in targets.items():
        with atomic_path(target, overwrite) as tmp:
            try:
                tmp.write_text(texts[fmt], encoding="utf-8")
            except OSError as exc:
                raise describe_os_error(exc, target) from exc
        written.append(target)
    return written
