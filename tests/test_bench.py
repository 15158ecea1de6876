"""`digitrec bench`: FLOP counting and the quick smoke run.

Only sanity bounds here: timing and memory are measured by `digitrec bench`, side by side in one run,
and no test passes or fails by the speed, load or memory of the machine.
"""

import json

import pytest

from digitrec import bench, cli, models
from digitrec.errors import ModelError


def test_flops_per_image_counts_conv_and_dense_multiply_adds():
    # baseline: conv 26x26x32 (3x3x1), conv 11x11x64 (3x3x32), dense 1600->128, dense 128->10; 2 FLOPs per multiply-add
    expected = 2 * (26 * 26 * 32 * 9 + 11 * 11 * 64 * 9 * 32 + 1600 * 128 + 128 * 10)
    assert bench.flops_per_image(models.build_model("baseline")) == expected == 5_262_080
    # fast: conv 12x12x32 on 4 space-to-depth channels, conv 6x6x64 (3x3x32), dense 576->10
    assert bench.flops_per_image(models.build_model("fast")) == 2 * (144 * 32 * 36 + 36 * 64 * 288 + 576 * 10)


def test_unknown_recipe_fails_before_anything_runs(capsys):
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        bench.run(["fast", "nope"], quick=True)
    assert cli.main(["bench", "--quick", "--recipes", "baseline,nope"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_bench_measures_every_recipe(mnist_dir, tmp_path, capsys):
    out = tmp_path / "deep" / "bench.json"
    assert cli.main(["bench", "--quick", "--out", str(out), "--data-dir", str(mnist_dir)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    result = json.loads(out.read_text())
    assert list(result["recipes"]) == list(bench.DEFAULT_RECIPES)
    assert result["settings"]["quick"] and result["machine"]["cores"] >= 1 and result["machine"]["keras"]
    for name, r in result["recipes"].items():
        [run] = r["runs"]
        # 2,000 images less the recipe's validation split (none for fast), split class by class
        assert abs(run["n_train"] - 2000 * (1 - models.get_recipe(name).val_split)) <= 10 and r["epochs"] == 1
        assert 0.3 < r["accuracy_min"] == r["accuracy_mean"] <= 1.0
        assert r["train_seconds"] > 0 and r["peak_rss_mib"] > 0 and r["images_per_second"] > 0
        assert 0 < r["latency_ms_p50"] <= r["latency_ms_p95"]
        assert r["flops_per_image"] == bench.flops_per_image(models.build_model(name))
        assert r["inference_gflops"] == pytest.approx(r["flops_per_image"] * r["images_per_second"] / 1e9, rel=0.01)
        assert name in printed
    ratio = result["recipes"]["baseline"]["train_seconds"] / result["recipes"]["fast"]["train_seconds"]
    assert result["baseline_to_fast_ratio"] == pytest.approx(ratio, rel=0.02)
    assert "baseline-to-fast training time ratio" in printed and f"results: {out}" in printed
    assert "baseline seed 0: " in captured.err and "seed seed" not in captured.err  # the progress lines
