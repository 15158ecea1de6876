"""`digitrec bench`: FLOP counting and the quick smoke run.

Only sanity bounds here: timing and memory are measured by `digitrec bench`, side by side in one run,
and no test passes or fails by the speed, load or memory of the machine.
"""

import json

import pytest
from PIL import Image

from digitrec import bench, cli, models
from digitrec.errors import DigitrecError, ModelError


def test_flops_per_image_counts_conv_and_dense_multiply_adds():
    # baseline: conv 26x26x32 (3x3x1), conv 11x11x64 (3x3x32), dense 1600->128, dense 128->10; 2 FLOPs per multiply-add
    expected = 2 * (26 * 26 * 32 * 9 + 11 * 11 * 64 * 9 * 32 + 1600 * 128 + 128 * 10)
    assert bench.flops_per_image(models.build_model("baseline")) == expected == 5_262_080
    # fast: conv 12x12x32 on 4 space-to-depth channels, conv 6x6x64 (3x3x32), dense 576->256->10
    fast = models.build_model("fast")
    assert bench.flops_per_image(fast) == 2 * (144 * 32 * 36 + 36 * 64 * 288 + 576 * 256 + 256 * 10)


def test_unknown_recipe_fails_before_anything_runs(capsys):
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        bench.run(["fast", "nope"], quick=True)
    assert cli.main(["bench", "--quick", "--recipes", "baseline,nope"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_missing_data_fails_before_any_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", "http://127.0.0.1:9/")  # the discard port: nothing answers
    assert cli.main(["bench", "--quick", "--recipes", "fast", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitrec: error: ") and "train-images-idx3-ubyte" in err and len(err.splitlines()) == 1


@pytest.mark.slow  # a fresh process that imports TensorFlow
def test_a_failing_training_process_is_one_clear_error(tmp_path, monkeypatch):
    # The child process finds no data (calling it directly skips the parent's check).
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(DigitrecError, match=r"^bench: training fast with seed 0 failed: t10k-images-idx3-ubyte: not in .*no mirror"):
        bench._in_process("fast", 0, tmp_path / "empty", tmp_path, None, 1)


def test_peak_gflops_times_a_real_matrix_multiply():
    assert 0.1 < bench.peak_gflops(size=256, repeats=2) < 1e5


@pytest.mark.slow
def test_quick_bench_measures_every_recipe(mnist_dir, tmp_path, capsys):
    out, plot = tmp_path / "deep" / "bench.json", tmp_path / "plots" / "time-to-accuracy.png"
    assert cli.main(["bench", "--quick", "--out", str(out), "--plot", str(plot), "--data-dir", str(mnist_dir)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    result = json.loads(out.read_text())
    assert list(result["recipes"]) == list(bench.DEFAULT_RECIPES)
    assert result["settings"]["quick"] and result["machine"]["cores"] >= 1 and result["machine"]["keras"]
    assert result["machine"]["peak_gflops"] > 0 and result["machine"]["backend"] == "tensorflow"
    for name, r in result["recipes"].items():
        [run] = r["runs"]
        # 2,000 images less the recipe's validation split (none for fast), split class by class
        assert abs(run["n_train"] - 2000 * (1 - models.get_recipe(name).val_split)) <= 10 and r["epochs"] == 1
        assert 0.3 < r["accuracy_min"] == r["accuracy_mean"] <= 1.0
        # training is part of the process; the per-epoch test scoring is in neither
        assert 0 < r["train_seconds"] < r["process_seconds"] and run["scoring_seconds"] > 0
        assert r["train_cpu_seconds"] > 0
        [(seconds, accuracy)] = r["curve"]  # one point per epoch: the last epoch's weights
        assert 0 < seconds <= r["train_seconds"] + 0.1 and 0.1 < accuracy <= 1.0
        assert r["peak_rss_mib"] > 0 and r["images_per_second"] > 0
        assert 0 < r["latency_ms_p50"] <= r["latency_ms_p95"]
        assert r["flops_per_image"] == r["train_flops_per_image"] == bench.flops_per_image(models.build_model(name))
        assert r["inference_gflops"] == pytest.approx(r["flops_per_image"] * r["images_per_second"] / 1e9, rel=0.01)
        assert r["train_peak_share"] == pytest.approx(r["train_gflops"] / result["machine"]["peak_gflops"], rel=0.02)
        assert name in printed
    reference = result["recipes"][bench.REFERENCE]
    for name, ratio in result["speedups"].items():
        r = result["recipes"][name]
        assert ratio["train"] == pytest.approx(reference["train_seconds"] / r["train_seconds"], rel=0.02)
        assert ratio["process"] == pytest.approx(reference["process_seconds"] / r["process_seconds"], rel=0.02)
        assert ratio["train_cpu"] == pytest.approx(reference["train_cpu_seconds"] / r["train_cpu_seconds"], rel=0.02)
        assert f"{bench.REFERENCE}-to-{name} time ratio: training" in printed
    assert set(result["speedups"]) == set(bench.DEFAULT_RECIPES) - {bench.REFERENCE}
    assert f"results: {out}" in printed and f"plot: {plot}" in printed
    assert "baseline seed 0: " in captured.err and "seed seed" not in captured.err  # the progress lines
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] > 500


@pytest.mark.slow
def test_a_bench_run_of_fast_trains_on_all_60000_images(mnist_dir, tmp_path):
    # One full epoch in a fresh process, as bench runs it (its memory is reported by bench, not bounded here).
    run = bench._in_process("fast", 0, mnist_dir, tmp_path, None, 1)
    assert run["n_train"] == 60_000 and run["epochs"] == 1
    assert run["peak_rss_mib"] > 0 and len(run["curve"]) == 1
    assert run["accuracy"] > 0.97


@pytest.mark.slow
def test_serve_bench_loads_both_servers_without_errors(mnist_dir, tmp_path, capsys):
    from digitrec import bench_scale

    out = tmp_path / "serve.json"
    assert cli.main(["bench", "--serve", "--quick", "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    result = json.loads(out.read_text())
    assert list(result["configs"]) == list(bench_scale.CONFIGS)
    for runs in result["configs"].values():
        assert [runs[k]["errors"] for k in ("1_client", "8_clients")] == [0, 0]
        assert runs["8_clients"]["requests"] == 8 * 10 and runs["8_clients"]["p95_ms"] >= runs["8_clients"]["p50_ms"]
    assert "targets (issue 13" in capsys.readouterr().out


@pytest.mark.slow
def test_predict_bench_rates_one_and_two_workers(mnist_dir, tmp_path):
    out = tmp_path / "predict.json"
    assert cli.main(["bench", "--predict", "--quick", "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    result = json.loads(out.read_text())
    assert result["images"] == 1000 and set(result["rates"]) == {"1", "2"}
    assert result["scaling_efficiency"] > 0
