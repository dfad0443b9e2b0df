"""What quantization-aware training buys: SDR per stem of the demo model in FP32 ONNX, in plain
static INT8 (ONNX Runtime's quantize_static, QDQ, per-channel int8 weights, uint8 activations,
Conv/MatMul/Gemm, MinMax calibrated on the demo song) and in QAT INT8 (app.core.quantization
.quantize_qat on generated training songs), on the demo song and on held-out songs.

    python benchmarks/quantization_qat.py [--steps 150] [--batch 4] [--segment 2.0]
        [--lr 3e-5] [--distill 1.0] [--train-songs 8] [--heldout 5] [--work /tmp/tfswa-qat-bench]

Training songs: ``--train-songs`` songs x 20 s from the fallback synthesizer (train preset,
seeds 910000+, what quantize_qat makes by default); held-out songs: ``--heldout`` songs x 30 s,
``songs --split heldout --fallback``, seeds 100000+ (never trained on). The fine-tuned FP32
weights are exported too, so the table separates what the fine-tuning did from what the
quantization costs, and "qat int8, 0 steps" is the same pipeline without training (ranges
MinMax-calibrated on 4 training batches, original weights). SDR is the utterance SDR
(app.core.evaluation.sdr) of the full song separated by app.core.separation.separate_array
over each ONNX file; every difference is to the FP32 ONNX of the original model; held-out
figures are medians over the songs.
ONNX Runtime's own profile of each INT8 file lists the integer kernels that ran.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine  # noqa: E402

HELDOUT_SEED = 100000


def songs(folder: Path, count: int, seed: int, split: str, seconds: float) -> Path:
    from app.core.songs import generate_songs, track_name

    for i in range(count):
        if not (folder / track_name(seed + i) / "mixture.wav").exists():
            generate_songs(folder, 1, seed=seed + i, duration=seconds, split=split,
                           fallback=True, jobs=1, overwrite=True)
    return folder


def track_list(folder: Path, sources) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from app.core.audio import TrackSet

    tracks = TrackSet.from_folder(folder, sources, 44100)
    return [(t.name, tracks.read_mixture(i), tracks.read_sources(i)[:len(sources)])
            for i, t in enumerate(tracks.tracks)]


def static_int8(fp32: Path, out: Path, mixture: np.ndarray, audio, segments: int = 8) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from app.core.audio import Spectrogram

    spec, n = Spectrogram(audio), audio.segment_samples
    starts = np.linspace(0, mixture.shape[1] - n, segments).astype(int)
    mags = [np.abs(spec.stft(mixture[:, s:s + n]))[None].astype(np.float32) for s in starts]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(mags)

        def get_next(self):
            m = next(self.it, None)
            return None if m is None else {"magnitude": m}

    pre = out.with_name(out.stem + "-pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv", "MatMul", "Gemm"], per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    from app.core.quantization.qat_onnx import set_metadata
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
    set_metadata(out, {**meta, "precision": "int8", "mode": "static"})


def sdrs(path: Path, tracks, threads: int) -> list[np.ndarray]:
    from app.core.backends import OnnxRuntimeBackend
    from app.core.evaluation import sdr
    from app.core.separation import separate_array

    backend = OnnxRuntimeBackend(path, threads)
    return [sdr(ref, separate_array(mix, backend)) for _, mix, ref in tracks]


def mask_snrs(files: dict, mixture: np.ndarray, audio, segments: int = 8) -> dict[str, float]:
    """SNR (dB) of each file's masks against the FP32 file's, on demo-song segments."""
    from app.core.audio import Spectrogram
    from app.core.backends import OnnxRuntimeBackend

    spec, n = Spectrogram(audio), audio.segment_samples
    # half a segment off the static calibration segments: not the same audio
    starts = np.linspace(n // 2, mixture.shape[1] - n, segments).astype(int)
    mags = [np.abs(spec.stft(mixture[:, s:s + n]))[None].astype(np.float32) for s in starts]
    masks = {k: [OnnxRuntimeBackend(p, 2).run(m) for m in mags] for k, p in files.items()}
    ref = np.concatenate(masks["fp32"]).astype(np.float64)
    out = {}
    for k, v in masks.items():
        err = np.sum((ref - np.concatenate(v)) ** 2)
        out[k] = float("inf") if err == 0 else float(10 * np.log10(np.sum(ref ** 2) / err))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--segment", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--distill", type=float, default=1.0,
                    help="targets: FP32 estimates (1) .. true stems (0)")
    ap.add_argument("--train-songs", type=int, default=8)
    ap.add_argument("--heldout", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/tfswa-qat-bench"))
    a = ap.parse_args()

    from app.core.checkpoint import load_bundle
    from app.core.export import export_bundle
    from app.core.quantization import int8_kernel_count, profiled_operators, quantize_qat
    from app.core.resources import DEMO_DIR

    print(machine())
    work = a.work
    work.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(DEMO_DIR / "demo-model.safetensors")
    sources = bundle.sources
    train = songs(work / "train", a.train_songs, 910000, "train", 20.0)
    heldout = songs(work / "heldout", a.heldout, HELDOUT_SEED, "heldout", 30.0)
    demo = track_list(DEMO_DIR, sources)
    held = track_list(heldout, sources)

    files = {"fp32": work / "fp32.onnx", "static int8": work / "static-int8.onnx",
             "qat int8, 0 steps": work / "qat0-int8.onnx",
             "qat fp32": work / "qat-fp32.onnx", "qat int8": work / "qat-int8.onnx"}
    export_bundle(bundle, files["fp32"], overwrite=True)
    static_int8(files["fp32"], files["static int8"], demo[0][1], bundle.audio)
    quantize_qat(bundle, files["qat int8, 0 steps"], data=train, steps=0, segment_seconds=a.segment,
                 batch=a.batch, overwrite=True)      # ranges from training batches only
    t = time.perf_counter()
    result = quantize_qat(bundle, files["qat int8"], data=train, steps=a.steps, lr=a.lr,
                          segment_seconds=a.segment, batch=a.batch, distill=a.distill,
                          fp32_out=files["qat fp32"], overwrite=True)
    qat_seconds = time.perf_counter() - t
    print(f"QAT: {a.steps} steps x {a.batch} x {a.segment} s, lr {a.lr}, distill {a.distill}, "
          f"{qat_seconds:.0f} s in all, {result.train_seconds:.0f} s calibrating and training "
          f"({result.train_seconds / max(a.steps, 1):.2f} s per step); loss "
          f"{result.initial_loss:.5f} -> {result.final_loss:.5f}; ranges from "
          f"training {result.ranges_from_training}, calibrated by ORT "
          f"{len(result.calibrated_tensors)}; mask SNR vs FP32 {result.mask_snr_db:.1f} dB")

    scores = {k: (sdrs(p, demo, a.threads)[0], sdrs(p, held, a.threads)) for k, p in files.items()}
    snrs = mask_snrs(files, demo[0][1], bundle.audio)
    x = np.abs(np.random.default_rng(0).normal(size=(1, 2, 1025, 259))).astype(np.float32)
    base_demo, base_held = scores["fp32"]
    print(f"\n| variant | size MB | demo {' | demo '.join(sources)} | held-out median "
          f"{' | held-out median '.join(sources)} | mask SNR dB | int8 kernels |")
    print("|---|---|" + "---|" * (2 * len(sources)) + "---|---|")
    for k, p in files.items():
        d, h = scores[k]
        med = [statistics.median(s[j] for s in h) for j in range(len(sources))]
        base_med = [statistics.median(s[j] for s in base_held) for j in range(len(sources))]
        cells = [f"{d[j]:.2f} ({d[j] - base_demo[j]:+.2f})" for j in range(len(sources))]
        cells += [f"{med[j]:.2f} ({med[j] - base_med[j]:+.2f})" for j in range(len(sources))]
        ops = profiled_operators(p, x)
        kern = ", ".join(f"{op} {n}" for op, n in sorted(ops.items()) if op.startswith("QLinear")
                         or op.endswith(("Integer", "IntegerToFloat")) or op == "QGemm")
        print(f"| {k} | {p.stat().st_size / 1e6:.2f} | " + " | ".join(cells)
              + f" | {snrs[k]:.1f} | {kern or '-'} ({int8_kernel_count(ops)}) |")
    print("\nper held-out song, SDR change vs FP32 (" + "/".join(sources) + "):")
    for k in ("static int8", "qat int8, 0 steps", "qat int8"):
        diffs = [" ".join(f"{s[j] - b[j]:+.2f}" for j in range(len(sources)))
                 for s, b in zip(scores[k][1], base_held)]
        print(f"  {k:17s} " + " | ".join(diffs))


if __name__ == "__main__":
    main()
