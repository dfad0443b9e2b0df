"""benchmark_model: statistics on backends with known run times, the interleaved order,
real variants (checkpoint, its ONNX export, a third party's ONNX file), the report files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from app.core.benchmarking import (SETTLED_PCT, BenchmarkSettings, BenchmarkVariant,
                                   benchmark_model, cuda_available, cuda_variants,
                                   latency_stats, median_rank_interval, parse_profile,
                                   read_cpuinfo, save_report, why_no_cuda_variants)
from app.core.benchmarking.cuda import cuda_backend
from app.core.jobs import Cancelled, CancelToken, UserError
from benchhelp import contract_onnx, image_classifier_onnx, sleeping_backend

ROOT = Path(__file__).resolve().parents[2]


def test_latency_statistics_of_known_values():
    stats = latency_stats([i / 1000 for i in range(1, 101)])      # 1 .. 100 ms
    assert stats.runs == 100 and stats.min == pytest.approx(1) and stats.max == pytest.approx(100)
    assert stats.p50 == pytest.approx(50.5)
    assert stats.p95 == pytest.approx(95.05)
    assert stats.p99 == pytest.approx(99.01)
    assert stats.mean == pytest.approx(50.5)
    assert stats.std == pytest.approx(29.0115, abs=1e-3)      # sample standard deviation
    with pytest.raises(ValueError):
        latency_stats([])


def test_the_median_interval_covers_the_true_median_95_percent_of_the_time():
    # order statistics: 1 .. 20 ms gives the 6th and 15th runs (the textbook ranks for n=20)
    stats = latency_stats([i / 1000 for i in range(1, 21)])
    assert (stats.p50_low, stats.p50_high) == pytest.approx((6, 15))
    assert median_rank_interval(100) == (39, 60) and median_rank_interval(5) is None
    # whatever the distribution: skewed run times like a busy machine's (log-normal)
    rng = np.random.default_rng(1)
    true_median = 100.0
    for n in (10, 20, 60, 1500):
        hits = 0
        for _ in range(400):
            ms = true_median * np.exp(rng.normal(0, 0.3, n))
            s = latency_stats(ms / 1000)
            hits += s.p50_low <= true_median <= s.p50_high
        assert 0.92 <= hits / 400 <= 1.0, (n, hits)


def test_an_unsettled_median_says_how_many_runs_would_settle_it():
    rng = np.random.default_rng(2)
    noisy = latency_stats(100 * np.exp(rng.normal(0, 0.15, 20)) / 1000)
    assert not noisy.settled and noisy.p50_uncertainty_pct > SETTLED_PCT
    need = noisy.runs_to_settle(100_000)
    assert 20 < need < 100_000 and noisy.runs_to_settle(50) == 50
    # that many runs of the same noise do settle, most of the time
    settled = [latency_stats(100 * np.exp(rng.normal(0, 0.15, need)) / 1000).settled
               for _ in range(100)]
    assert sum(settled) >= 50, (need, sum(settled))
    steady = latency_stats(np.full(20, 0.1) + rng.normal(0, 1e-4, 20))
    assert steady.settled and steady.runs_to_settle(1000) == 20
    assert latency_stats([0.1, 0.2, 0.3]).p50_uncertainty_pct == float("inf")


def test_the_same_file_entered_twice_is_compared_and_an_unsettled_median_is_noted(tmp_path):
    path = contract_onnx(tmp_path / "same.onnx")
    run = benchmark_model([path, path], runs=3, warmup=1, threads=(1,), memory=False)
    assert [r.label for r in run.results] == ["same (ONNX)", "same (ONNX) #2"]
    twice = [n for n in run.notes if "entered 2 times" in n]
    assert len(twice) == 1 and "too few runs to tell" in twice[0], run.notes
    assert any(n.startswith("p50 not settled after 3 runs") and "unbounded" in n
               for n in run.notes), run.notes

    run = benchmark_model([path, path], runs=40, warmup=1, threads=(1,), memory=False)
    twice = next(n for n in run.notes if "entered 2 times" in n)
    a, b = (r.latency for r in run.results)
    apart = 100 * abs(a.p50 - b.p50) / min(a.p50, b.p50)
    assert f"{apart:.1f} % apart" in twice
    overlap = max(a.p50_low, b.p50_low) <= min(a.p50_high, b.p50_high)
    assert ("intervals overlap" in twice) == overlap


def test_statistics_of_backends_with_known_run_times():
    fast, slow = sleeping_backend(20, "fast"), sleeping_backend(60, "slow")
    run = benchmark_model([fast, slow], runs=8, warmup=1, memory=False)
    a, b = run.result("fast"), run.result("slow")
    # sleep() never returns early; a busy machine may add a little
    assert 20 <= a.latency.p50 < 20 + 25 and 60 <= b.latency.p50 < 60 + 25
    assert a.latency.min >= 20 and b.latency.min >= 60
    assert a.latency.runs == b.latency.runs == 8 and len(a.samples_ms) == 8
    assert a.latency.p50 <= a.latency.p95 <= a.latency.p99 <= a.latency.max
    assert a.throughput == pytest.approx(1000 / a.latency.p50)
    assert a.x_realtime == pytest.approx(3.0 * 1000 / a.latency.p50)    # one 3 s segment
    assert a.input_shape == [1, 2, 1025, 259]
    assert a.speedup is None        # no eager PyTorch variant to compare with
    assert run.machine.cpu and run.machine.cores >= 1 and "numpy" in run.machine.versions


def test_variants_run_interleaved_round_robin_and_samples_arrive_in_order():
    log: list[str] = []
    backends = [sleeping_backend(1, name, log) for name in ("a", "b", "c")]
    samples = []
    run = benchmark_model(backends, runs=4, warmup=2, memory=False, on_sample=samples.append)
    assert log == ["a", "b", "c"] * 6
    assert run.order == ["a", "b", "c"]
    assert [(s.label, s.run) for s in samples] == [(n, r) for r in range(4) for n in "abc"]
    assert [s.index for s in samples[:3]] == [0, 1, 2]
    assert samples[0].ms == pytest.approx(run.results[0].samples_ms[0])


def test_cancel_stops_between_runs():
    token = CancelToken()
    calls: list[str] = []

    def on_sample(sample):
        if sample.run == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        benchmark_model([sleeping_backend(1, "a", calls)], runs=1000, warmup=0, memory=False,
                        cancel=token, on_sample=on_sample)
    assert len(calls) == 3


def test_bad_settings_are_refused():
    backend = sleeping_backend(1, "a")
    for bad in ({"runs": 0}, {"batch": 0}, {"threads": (0,)}, {"segments": (0.0,)},
                {"song": Path("/no/such/song.wav")}):
        with pytest.raises(UserError):
            benchmark_model(backend, **bad)
    with pytest.raises(UserError, match="nothing to benchmark"):
        benchmark_model([])


def test_a_threads_and_segment_sweep_times_every_combination():
    run = benchmark_model([sleeping_backend(1, "a")], runs=2, warmup=0, memory=False,
                          threads=(1, 2), segments=(1.0, 2.0))
    assert [(r.threads, r.segment_s) for r in run.results] == [(1, 1.0), (1, 2.0), (2, 1.0),
                                                              (2, 2.0)]
    assert [r.input_shape[3] for r in run.results] == [87, 173, 87, 173]
    assert len({r.label for r in run.results}) == 4


def test_third_party_onnx_with_the_contract_is_timed(tmp_path):
    path = contract_onnx(tmp_path / "other.onnx")
    run = benchmark_model([path], runs=3, warmup=1, threads=(1,), memory=True, profile=True)
    r = run.results[0]
    assert r.kind == "onnx" and r.name == "other (ONNX)" and r.file_size == path.stat().st_size
    assert r.latency.runs == 3 and r.input_shape == [1, 2, 1025, 259]
    assert any("carries no audio config" in n for n in r.notes + run.notes)
    assert r.peak_rss_bytes and r.peak_rss_above_baseline is not None
    assert {t.name for t in r.profile.by_type} >= {"Sigmoid", "Concat"}
    assert sum(t.share for t in r.profile.by_type) == pytest.approx(1.0)


def test_a_fixed_length_onnx_is_fed_its_own_frames(tmp_path):
    path = contract_onnx(tmp_path / "fixed.onnx", fixed_frames=64)
    run = benchmark_model([path], runs=2, warmup=0, memory=False, segments=(3.0,))
    assert run.results[0].input_shape == [1, 2, 1025, 64]


def test_a_fixed_shape_file_in_a_segment_sweep_runs_once_at_its_own_length(tmp_path):
    fixed = contract_onnx(tmp_path / "fixed.onnx", fixed_frames=64)      # 63 hops: 0.73 s
    dynamic = contract_onnx(tmp_path / "dynamic.onnx")
    seen = []
    run = benchmark_model([fixed, dynamic], runs=2, warmup=0, memory=False, segments=(1.0, 3.0),
                          progress=lambda fraction, message: seen.append(fraction))
    assert seen == sorted(seen) and seen[-2] > 0.9 and seen[-1] == 1.0   # no jump at the end
    labels = [r.label for r in run.results]
    assert len(labels) == len(set(labels)) == 3           # the fixed file is not timed twice
    fixed_rows = [r for r in run.results if r.path == str(fixed)]
    assert len(fixed_rows) == 1 and fixed_rows[0].input_shape[3] == 64
    assert fixed_rows[0].segment_s == pytest.approx(63 * 512 / 44100)
    assert fixed_rows[0].label.endswith("· 0.731 s")
    assert labels.index(fixed_rows[0].label) < 2          # timed in the 1 s block, the nearer
    assert [r.segment_s for r in run.results if r.path == str(dynamic)] == [1.0, 3.0]
    assert any(n.startswith("fixed (ONNX) was exported for one input shape") for n in run.notes)
    assert not any("entered 2 times" in n for n in run.notes)


def test_a_fixed_shape_file_separates_a_song_at_its_own_segment(tmp_path):
    import soundfile as sf

    song = tmp_path / "song.wav"
    noise = np.random.default_rng(0).standard_normal((44100 * 2, 2)).astype(np.float32) * 0.1
    sf.write(str(song), noise, 44100)
    fixed = contract_onnx(tmp_path / "fixed.onnx", fixed_frames=64)
    run = benchmark_model([fixed], runs=1, warmup=0, memory=False, song=song, segments=(3.0,))
    r = run.results[0]
    assert r.x_realtime > 0 and r.throughput > 0
    assert r.segment_s == pytest.approx(63 * 512 / 44100)


def test_onnx_with_another_contract_is_refused_in_one_line(tmp_path):
    path = image_classifier_onnx(tmp_path / "classifier.onnx")
    with pytest.raises(UserError) as info:
        benchmark_model([path], runs=1, memory=False)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path))
    assert "expected magnitude (B, 2, F, T) -> masks (B, S, 2, F, T)" in text
    assert "found input x float[1,3,224,224] -> output y float[1,1000]" in text


def test_a_corrupt_onnx_file_gets_a_message(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model at all")
    with pytest.raises(UserError, match="cannot be opened by ONNX Runtime"):
        benchmark_model([path], runs=1, memory=False)


@pytest.mark.slow
@pytest.mark.usefixtures("torch_one_thread")
def test_checkpoint_and_its_onnx_export_side_by_side():
    from exporthelp import exported

    bundle, onnx_result = exported("onnx")
    run = benchmark_model([bundle.path, onnx_result.path, onnx_result.path], runs=4, warmup=1,
                          threads=(1,), segments=(1.0,), profile=True)
    eager, onnx1, onnx2 = run.results
    assert (eager.kind, onnx1.kind) == ("pytorch", "onnx")
    assert [r.label for r in run.results] == ["PyTorch FP32", "ONNX FP32", "ONNX FP32 #2"]
    assert eager.speedup == pytest.approx(1.0)
    assert onnx1.speedup == pytest.approx(eager.latency.p50 / onnx1.latency.p50)
    assert onnx1.metadata["precision"] == "fp32" and "audio_config" not in onnx1.metadata
    for r in run.results:
        assert r.peak_rss_bytes > r.peak_rss_above_baseline > 0
        assert r.load_seconds > 0 and r.file_size > 0
    assert eager.profile is None and onnx1.profile.by_type[0].ms > 0
    assert onnx1.profile.top_nodes and onnx1.profile.total_ms > 0


@pytest.mark.usefixtures("torch_one_thread")
def test_song_mode_times_whole_songs_end_to_end(tmp_path):
    from app.core.audio.io import write
    from exporthelp import exported

    _, onnx_result = exported("onnx")
    song = write(tmp_path / "song.wav",
                 np.random.default_rng(0).uniform(-0.3, 0.3, (2, 2 * 44100)).astype(np.float32),
                 44100, subtype="float")
    run = benchmark_model([onnx_result.path], runs=2, warmup=1, threads=(1,), song=song,
                          memory=False)
    r = run.results[0]
    assert r.mode == "song" and run.settings.mode == "song"
    assert r.x_realtime == pytest.approx(2.0 / (r.latency.p50 / 1000), rel=1e-3)
    assert r.throughput > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav"]   # no stems left


def test_parse_profile_sums_kernel_time_per_operator_and_node():
    events = [
        {"cat": "Session", "name": "model_run", "ts": 0},
        {"cat": "Node", "name": "conv1_kernel_time", "ts": 1, "dur": 5000,
         "args": {"op_name": "Conv"}},
        {"cat": "Session", "name": "model_run", "ts": 100},
        {"cat": "Node", "name": "conv1_kernel_time", "ts": 101, "dur": 3000,
         "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "mm_kernel_time", "ts": 102, "dur": 1000,
         "args": {"op_name": "MatMul"}},
        {"cat": "Node", "name": "conv1_fence_before", "ts": 103, "dur": 99999,
         "args": {"op_name": "Conv"}},
    ]
    from app.core.benchmarking.profile import timed_events

    profile = parse_profile(timed_events(events, skip_runs=1), runs=1)
    assert [(t.name, t.ms) for t in profile.by_type] == [("Conv", 3.0), ("MatMul", 1.0)]
    assert profile.total_ms == 4.0 and profile.by_type[0].share == pytest.approx(0.75)
    assert [(n.name, n.op_type) for n in profile.top_nodes] == [("conv1", "Conv"), ("mm", "MatMul")]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text, self.urls = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data):
        self.text.append(data)


def test_report_files_json_csv_and_a_self_contained_html(tmp_path):
    run = benchmark_model([sleeping_backend(5, "five"), sleeping_backend(10, "ten")], runs=5,
                          warmup=1, memory=False, command="tfswa-studio benchmark a b")
    written = save_report(run, tmp_path / "report")
    assert [p.name for p in written] == ["report.html", "report.json", "report.csv"]

    data = json.loads((tmp_path / "report.json").read_text())
    assert [r["label"] for r in data["results"]] == ["five", "ten"]
    assert data["machine"]["cpu"] == run.machine.cpu and "p99" in data["results"][0]["latency"]

    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["label"] for r in rows] == ["five", "ten"]
    assert float(rows[1]["p50_ms"]) == pytest.approx(run.results[1].latency.p50, abs=1e-3)
    assert rows[1]["p50_low_ms"] == "" and rows[1]["p50_high_ms"] == ""    # 5 runs: none

    parser = _Collector()
    parser.feed((tmp_path / "report.html").read_text())
    text = " ".join(parser.text)
    assert parser.tags.count("svg") >= 3 and "polyline" in parser.tags and "rect" in parser.tags
    assert run.machine.cpu in text and "numpy" in text and "tfswa-studio benchmark a b" in text
    assert "Latency per run" in text and "five" in text and "p50 95 % interval" in text
    assert not parser.urls and "script" not in parser.tags     # opens with no network

    with pytest.raises(UserError, match="already exists"):
        save_report(run, tmp_path / "report.csv")
    assert save_report(run, tmp_path / "only.json") == [tmp_path / "only.json"]
    assert not (tmp_path / "only.html").exists()


def test_the_cpu_and_its_speed_flags_come_from_proc_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f "
                    "amx_int8\n\nprocessor\t: 1\nmodel name\t: Test CPU 9000\n")
    model, flags = read_cpuinfo(info)
    assert model == "Test CPU 9000" and {"avx2", "avx512f", "amx_int8"} <= flags


def test_high_load_is_flagged():
    run = benchmark_model([sleeping_backend(1, "a")], runs=1, warmup=0, memory=False)
    m = run.machine
    m.load_before, m.load_during = 0.1, [0.5]
    m.judge_load(1)
    assert not m.high_load and not m.load_note
    m.load_before = m.cores * 2.0
    m.judge_load(1)
    assert m.high_load and "before the start" in m.load_note


def test_cuda_variants_only_where_available(monkeypatch):
    import onnxruntime as ort

    paths = [Path("m.onnx"), Path("m.pt")]
    assert cuda_variants(paths, {"onnx": False, "pytorch": False}) == []
    assert [(v.path, v.device, v.name) for v in cuda_variants(
        paths, {"onnx": True, "pytorch": False})] == [(paths[0], "cuda", "m.onnx (CUDA)")]
    both = cuda_variants(paths, {"onnx": True, "pytorch": True})
    assert [(v.path, v.precision, v.name) for v in both] == [
        (paths[0], "fp32", "m.onnx (CUDA)"), (paths[1], "fp32", "m.pt (CUDA FP32)"),
        (paths[1], "fp16", "m.pt (CUDA FP16)")]
    assert all(v.device == "cuda" for v in both)
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert cuda_available()["onnx"] is True
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert cuda_available()["onnx"] is False
    with pytest.raises(UserError, match="no CUDA provider"):
        cuda_backend(Path("m.onnx"))


@pytest.mark.skipif(any(cuda_available().values()), reason="this machine has CUDA")
def test_without_a_gpu_there_are_no_cuda_variants_and_asking_for_one_says_why(tmp_path):
    import torch

    from app.core.checkpoint import init_bundle, save_bundle

    ckpt = save_bundle(init_bundle("small"), tmp_path / "m.pt")
    onnx = contract_onnx(tmp_path / "m.onnx")
    assert cuda_variants([ckpt, onnx]) == []
    why = why_no_cuda_variants()
    assert "PyTorch: no CUDA device is available here" in why
    assert "ONNX Runtime: cannot run on cuda: this ONNX Runtime has no CUDA provider" in why
    if torch.version.cuda is None:
        assert "CPU-only build" in why
    for variant, message in ((BenchmarkVariant(path=ckpt, device="cuda", precision="fp16"),
                              "no CUDA device is available here"),
                             (BenchmarkVariant(path=onnx, device="cuda"), "no CUDA provider")):
        with pytest.raises(UserError) as err:
            benchmark_model([variant], runs=1, warmup=0, memory=False)
        text = str(err.value)
        assert variant.path.name in text and "CUDA variant cannot run here" in text
        assert message in text


def test_importing_the_package_does_not_import_torch():
    code = ("import sys, app.core.benchmarking, app.commands.benchmark; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_settings_default_to_all_cores_and_the_models_segment():
    s = BenchmarkSettings()
    assert s.thread_counts[0] >= 1 and s.mode == "segment"
    assert BenchmarkVariant(path=Path("x/model.onnx")).label == "model.onnx"


def test_isolated_benchmark_runs_in_a_child_process_and_relays_samples(tmp_path):
    import threading

    from app.core.benchmarking import benchmark_isolated

    path = contract_onnx(tmp_path / "other.onnx")
    samples, threads = [], set()

    def on_sample(s):
        samples.append(s)
        threads.add(threading.get_ident())

    run = benchmark_isolated([path, path], runs=3, warmup=1, threads=(1,), memory=False,
                             on_sample=on_sample)
    assert [r.label for r in run.results] == ["other (ONNX)", "other (ONNX) #2"]
    assert [(s.index, s.run) for s in samples] == [(i, r) for r in range(3) for i in (0, 1)]
    assert run.results[0].samples_ms == [s.ms for s in samples if s.index == 0]
    assert threads == {threading.get_ident()}         # relayed in the caller's thread
    assert run.machine.cpu and run.settings.runs == 3


@pytest.mark.slow
def test_isolated_benchmark_cancels_within_a_second_and_reports_errors(tmp_path):
    import threading
    import time

    from app.core.benchmarking import benchmark_isolated

    path = contract_onnx(tmp_path / "other.onnx")
    token, asked = CancelToken(), []

    def on_sample(s):
        if s.run == 2 and not asked:
            asked.append(time.perf_counter())
            threading.Timer(0.0, token.cancel).start()

    with pytest.raises(Cancelled):
        benchmark_isolated([path], runs=100_000, warmup=0, memory=False, cancel=token,
                           on_sample=on_sample)
    assert time.perf_counter() - asked[0] < 1.0

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="broken.pt"):
        benchmark_isolated([broken], runs=1, memory=False)


def test_a_variant_without_a_file_is_benchmarked_in_this_process():
    from app.core.benchmarking import benchmark_isolated

    backend = sleeping_backend(1, "here")
    run = benchmark_isolated([BenchmarkVariant(loader=lambda threads: backend)], runs=2,
                             warmup=0, memory=False)
    assert run.results[0].label == "here"


@pytest.mark.usefixtures("torch_one_thread")
def test_a_torchscript_export_is_timed_as_torchscript_whichever_loader_is_asked_first(monkeypatch):
    from app.core.backends import LOADERS, discover_loaders
    from exporthelp import exported

    _, ts = exported("torchscript")
    discover_loaders()
    checkpoint_first = sorted(LOADERS, key=lambda loader: loader.name != "checkpoint")
    monkeypatch.setattr("app.core.backends.registry.LOADERS", checkpoint_first)
    run = benchmark_model([BenchmarkVariant(ts.path, trust_torchscript=True)], runs=1, warmup=0,
                          memory=False, segments=(1.0,))
    assert run.results[0].kind == "torchscript"


@pytest.mark.skipif(not cuda_available()["pytorch"], reason="needs a GPU")
def test_cuda_variants_run_on_the_gpu_in_fp32_and_fp16(tmp_path):
    from app.core.checkpoint import init_bundle, save_bundle

    ckpt = save_bundle(init_bundle("small"), tmp_path / "m.pt")
    run = benchmark_model([ckpt] + cuda_variants([ckpt]), runs=3, warmup=1, memory=False)
    cpu, fp32, fp16 = run.results
    assert cpu.device == "cpu" and fp32.device.startswith("cuda:")
    assert (fp32.precision, fp16.precision) == ("fp32", "fp16")
    assert fp32.provider == "torch-cuda" and fp32.speedup is not None


def test_the_sdr_a_variant_carries_is_the_mean_of_its_stems_and_never_a_change():
    from app.core.benchmarking import figures_sdr

    # as the Quantize tab stores it
    assert figures_sdr({"sdr": {"vocals": 6.0, "accompaniment": 9.0},
                        "sdr_delta": {"vocals": -3.0, "accompaniment": -4.0}}) == 7.5
    assert figures_sdr({"sdr_delta": {"vocals": -0.1}, "sdr_budget_db": 0.2}) is None
    assert figures_sdr({"sdr_db": 7.25}) == 7.25
    assert figures_sdr({"sdr": {"vocals": float("nan")}, "mask_snr_db": 40.0}) is None
    assert figures_sdr({"sdr": True}) is None and figures_sdr({}) is None
