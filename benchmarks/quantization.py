"""Quantization measured against issue 14's aims and the original report's table.

    python benchmarks/quantization.py --part medium [--rounds 15] [--threads 2]
    python benchmarks/quantization.py --part demo --songs DIR [--count 20] [--threads 2]

``--part medium``: an untrained medium preset (speed and size do not depend on the weights)
exported to ONNX, quantized (static INT8 calibrated on the demo song, dynamic INT8, FP16)
through app.core.quantization; one 3 s segment (1 x 2 x 1025 x 259) through PyTorch eager
(TorchBackend), ONNX Runtime FP32 and each quantized file, run round-robin after a warm-up,
medians; file sizes; then the 30 s demo mixture separated end to end (STFT, network,
inverse STFT, overlap-add) with FP32 and static INT8, interleaved, x real time.

``--part demo``: the demo model (small, trained) exported, quantized in every mode with the
fallback within 0.2 dB per stem measured on ``--songs`` (a folder written by ``tfswa-studio
songs --split heldout``), then :func:`compare_models` on all of them over the same songs
(whole songs): SDR per stem (median over songs) against the true stems, its change against
FP32, mask SNR, size and latency; printed beside the original report's claimed table.

Markdown goes to stdout; ``--json FILE`` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load_average, machine  # noqa: E402

CLAIMED = {"dynamic": (3.8, 2.1, -0.3), "static": (4.0, 2.8, -0.2), "qat": (4.0, 2.8, -0.1),
           "fp16": (2.0, 1.5, 0.0)}
FAST = dict(sensitivity="never", latency_rounds=3)


def cpu_flags() -> str:
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
              "amx_int8", "amx_bf16"]
    return ", ".join(f for f in wanted if f in flags)


def quantize_all(onnx_path: Path, work: Path, modes, threads: int, **options):
    from app.core.quantization import QuantizeOptions, quantize_model

    results = {}
    for mode in modes:
        start = time.perf_counter()
        opts = QuantizeOptions(mode=mode, threads=threads, **options)
        results[mode] = quantize_model(onnx_path, work / f"{onnx_path.stem}-{mode}.onnx", opts,
                                       progress=lambda f, m, mode=mode: None)
        print(f"<!-- {mode}: quantized in {time.perf_counter() - start:.0f} s -->", flush=True)
    return results


def medium(args) -> dict:
    import numpy as np

    from app.core.audio import Spectrogram, load
    from app.core.backends import OnnxRuntimeBackend, TorchBackend, set_torch_threads
    from app.core.checkpoint import init_bundle, save_bundle
    from app.core.export import ExportOptions, export_bundle
    from app.core.quantization import QUANTIZE_OPSET
    from app.core.quantization.measure import interleaved_latency
    from app.core.resources import demo_song
    from app.core.separation import separate_array

    set_torch_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="tfswa-bench-quant-"))
    bundle = init_bundle("medium", seed=0)
    save_bundle(bundle, work / "medium.pt")
    # at the opset the Quantize tab exports a checkpoint with, so FP32 and INT8 share a graph
    fp32 = export_bundle(bundle, work / "medium.onnx", ExportOptions(opset=QUANTIZE_OPSET),
                         threads=args.threads).path
    results = quantize_all(fp32, work, args.modes, args.threads, budget_db=None,
                           eval_seconds=3.0, **FAST)
    mix = load(demo_song(), 44100)[0]
    seg = mix[:, 44100 * 5:44100 * 8]
    x = np.abs(Spectrogram(bundle.audio).stft(seg))[None].astype(np.float32)
    backends = {"eager": TorchBackend(bundle.build(), bundle.audio, None, args.threads),
                "ort-fp32": OnnxRuntimeBackend(fp32, args.threads)}
    backends.update({f"ort-{m}": OnnxRuntimeBackend(r.path, args.threads)
                     for m, r in results.items()})
    if args.opset_17:
        # the same model exported at opset 17 (GELU as Erf arithmetic), and its static INT8
        old = export_bundle(bundle, work / "medium-o17.onnx", ExportOptions(opset=17),
                            threads=args.threads).path
        old_static = quantize_all(old, work, ["static"], args.threads, budget_db=None,
                                  eval_seconds=3.0, **FAST)["static"]
        backends["ort-fp32-o17"] = OnnxRuntimeBackend(old, args.threads)
        backends["ort-static-o17"] = OnnxRuntimeBackend(old_static.path, args.threads)
    if args.fixed:
        # the same model exported for one shape (masks, padding and windows as constants,
        # no shape arithmetic: 670 nodes instead of about 1,450), and its static INT8
        fixed = export_bundle(bundle, work / "medium-fixed.onnx",
                              ExportOptions(opset=QUANTIZE_OPSET, fixed_shapes=True),
                              threads=args.threads).path
        fixed_static = quantize_all(fixed, work, ["static"], args.threads, budget_db=None,
                                    eval_seconds=3.0, **FAST)["static"]
        backends["ort-fp32-fixed"] = OnnxRuntimeBackend(fixed, args.threads)
        backends["ort-static-fixed"] = OnnxRuntimeBackend(fixed_static.path, args.threads)
    ms = {k: v * 1000 for k, v in interleaved_latency(
        {k: (lambda b=b: b.run(x)) for k, b in backends.items()}, args.rounds, warmup=2).items()}
    sizes = {"ort-fp32": fp32.stat().st_size}
    sizes.update({f"ort-{m}": r.path.stat().st_size for m, r in results.items()})
    sizes.update({k: Path(b.path).stat().st_size for k, b in backends.items()
                  if k.endswith(("-o17", "-fixed"))})
    e2e = {}
    if "static" in results:
        runs = {k: (lambda b=backends[k]: separate_array(mix, b)) for k in ("ort-fp32", "ort-static")}
        secs = interleaved_latency(runs, rounds=args.e2e_rounds, warmup=1)
        e2e = {k: mix.shape[1] / 44100 / v for k, v in secs.items()}
    return {"latency_ms": ms, "sizes": sizes, "x_realtime": e2e,
            "mask_snr_db": {m: r.quantized.mask_snr_db for m, r in results.items()}}


def print_medium(fig: dict, rounds: int) -> None:
    ms, sizes = fig["latency_ms"], fig["sizes"]
    print(f"\nMedium preset, one 3 s segment, median of {rounds} interleaved rounds:\n")
    print("| variant | ms | x ORT FP32 | x eager | file MB | x smaller | mask SNR dB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, v in ms.items():
        size = sizes.get(k)
        ratio = f"{sizes['ort-fp32'] / size:.2f}" if size else "-"
        snr = fig["mask_snr_db"].get(k.replace("ort-", ""))
        print(f"| {k} | {v:.1f} | {ms['ort-fp32'] / v:.2f} | {ms['eager'] / v:.2f} | "
              f"{size / 1e6 if size else float('nan'):.1f} | {ratio} | "
              f"{'' if snr is None else f'{snr:.1f}'} |")
    for k, v in fig["x_realtime"].items():
        print(f"\nEnd to end, 30 s demo mixture, {k}: **{v:.1f}x real time**")


def demo(args) -> dict:
    from app.core.checkpoint import load_bundle
    from app.core.export import ExportOptions, export_bundle
    from app.core.quantization import compare_models, load_eval_songs
    from app.core.resources import demo_model

    work = Path(tempfile.mkdtemp(prefix="tfswa-bench-quant-"))
    bundle = load_bundle(demo_model())
    fp32 = export_bundle(bundle, work / "demo.onnx", ExportOptions(), threads=args.threads).path
    results = quantize_all(fp32, work, args.modes, args.threads, budget_db=0.2,
                           eval_data=args.songs, eval_songs=args.count, eval_seconds=None,
                           latency_rounds=5)
    songs = load_eval_songs(args.songs, bundle.audio, args.count, None)
    comparison = compare_models(fp32, [r.path for r in results.values()], songs,
                                threads=args.threads, rounds=args.rounds)
    return {"comparison": comparison, "results": results}


def print_demo(fig: dict, count: int) -> None:
    comparison, results = fig["comparison"], fig["results"]
    ref = comparison.rows[0]
    print(f"\nDemo model, {len(comparison.songs)} held-out songs (whole), median SDR per stem:\n")
    print("| variant | MB | x smaller | ms/segment | x FP32 | mask SNR dB | SDR vocals | "
          "SDR accomp. | Δ vocals | Δ accomp. | kept FP32 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in comparison.rows:
        d = row.sdr_delta
        print(f"| {row.name} | {row.file_size / 1e6:.2f} | {ref.file_size / row.file_size:.2f} | "
              f"{row.latency_ms:.1f} | {ref.latency_ms / row.latency_ms:.2f} | "
              f"{row.mask_snr_db:.1f} | {row.sdr['vocals']:.2f} | {row.sdr['accompaniment']:.2f} | "
              f"{d['vocals']:+.3f} | {d['accompaniment']:+.3f} | "
              f"{', '.join(row.fp32_layers) or '-'} |")
    print("\nThe original report's table, claimed beside measured (demo model, rows above):\n")
    print("| method | size reduction claimed / measured | speedup claimed / measured | "
          "SDR impact claimed / measured (worst stem) |")
    print("|---|---|---|---|")
    by_mode = {m: comparison.rows[i + 1] for i, m in enumerate(results)}
    for mode, (size, speed, sdr) in CLAIMED.items():
        row = by_mode.get(mode)
        if row is None:
            print(f"| {mode} | {size}x / not measured | {speed}x / - | {sdr} dB / - |")
            continue
        print(f"| {mode} | {size}x / **{ref.file_size / row.file_size:.2f}x** | {speed}x / "
              f"**{ref.latency_ms / row.latency_ms:.2f}x** | {sdr:+.1f} dB / "
              f"**{min(row.sdr_delta.values()):+.3f} dB** |")
    for mode, r in results.items():
        if r.sensitivity:
            print(f"\n{mode}: sensitivity ranking " + ", ".join(
                f"{s.group} {s.cost_db:+.3f}" for s in r.sensitivity[:6]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["medium", "demo"], required=True)
    ap.add_argument("--songs", help="demo: folder of held-out songs with true stems")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--modes", default="static,dynamic,fp16")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--e2e-rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--opset-17", action="store_true",
                    help="medium: also time FP32 and static INT8 exported at opset 17")
    ap.add_argument("--fixed", action="store_true",
                    help="medium: also time FP32 and static INT8 of a fixed-shape export")
    args = ap.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    print(f"<!-- {machine()}; {cpu_flags()}; load {load_average():.1f}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} -->")
    if args.part == "medium":
        fig = medium(args)
        print_medium(fig, args.rounds)
    else:
        if not args.songs:
            ap.error("--part demo needs --songs DIR (tfswa-studio songs --split heldout)")
        fig = demo(args)
        print_demo(fig, args.count)
    if args.json:
        from app.core.jobs import to_jsonable

        Path(args.json).write_text(json.dumps(to_jsonable(fig), indent=1))
    print(f"<!-- load at the end {load_average():.1f} -->")


if __name__ == "__main__":
    main()
