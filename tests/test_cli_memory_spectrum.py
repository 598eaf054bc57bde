"""End-to-end tests of ``wcrnn-dyn memory`` and ``wcrnn-dyn spectrum`` (small settings)."""
import json

import numpy as np

from wcrnn_dyn import cli, store as io


def test_memory_command_writes_results(tmp_path, capsys):
    out = tmp_path / "mem"
    rc = cli.main(["memory", "--hidden", "12", "--residual", "rotational", "--mu", "0.9", "--eps", "0.05",
                   "--max-lag", "20", "--seq-len", "800", "--batch-size", "3", "--ipc-degree", "2", "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    m = doc["metrics"]
    assert 0 < m["memory_capacity_total"] <= 12 + 0.5
    assert abs(m["predicted_top_exponent"] - np.log(0.9)) < 1e-12
    assert abs(m["predicted_decay_factor"] - 0.9) < 1e-12
    # timescales tau = -1/log(0.9) = 9.49 steps
    arr = io.load_npz(out / "results.npz")
    np.testing.assert_allclose(arr["timescales"], -1 / np.log(0.9), rtol=1e-12)
    assert arr["input_sensitivity"].shape == (21,) and arr["mc_per_lag"].shape == (21,)
    assert "ipc_degree_2" in arr
    assert doc["provenance"]["package"] == "wcrnn_dyn" and doc["config"]["command"] == "memory"
    for name in ("input_sensitivity.png", "memory_capacity.png", "timescales.png", "ipc.png"):
        assert (out / name).stat().st_size > 1000
    assert "MC =" in capsys.readouterr().out


def test_memory_command_loads_saved_model(tmp_path):
    import wcrnn_dyn as wd
    net = wd.WCRNN(1, 6, 1, residual=wd.residuals.scaled_identity(6, 0.8), eps=0.1, seed=0)
    path = tmp_path / "net.npz"
    net.save(path)
    rc = cli.main(["memory", "--model", str(path), "--max-lag", "5", "--seq-len", "300", "--batch-size", "2",
                   "--no-plots", "--out", str(tmp_path / "o")])
    assert rc == 0
    doc = io.read_results(tmp_path / "o")
    assert doc["config"]["model"]["loaded_from"] == str(path)
    assert not (tmp_path / "o" / "memory_capacity.png").exists()


def test_memory_command_bad_arguments(tmp_path, capsys):
    rc = cli.main(["memory", "--hidden", "4", "--max-lag", "50", "--seq-len", "50", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "max_lag must be < n_steps" in capsys.readouterr().err
    rc = cli.main(["memory", "--hidden", "4", "--w-scale", "-1", "--out", str(tmp_path / "y")])
    assert rc == 2
    assert "--w-scale" in capsys.readouterr().err


def test_spectrum_command_synthetic(tmp_path, capsys):
    out = tmp_path / "spec"
    rc = cli.main(["spectrum", "--task", "synthetic", "--max-samples", "60", "--hidden", "16", "--out", str(out)])
    assert rc == 0
    doc = io.read_results(out)
    m = doc["metrics"]
    assert abs(m["top_peak_freq"] - 1 / 28) < 0.5 / 784
    assert m["spectral_flatness"] < 0.2
    assert m["matched_method"] == "peaks" and len(m["matched_freqs"]) == 8
    assert min(abs(f - 1 / 28) for f in m["matched_freqs"]) < 0.5 / 784
    arr = io.load_npz(out / "results.npz")
    assert arr["freqs"].shape == arr["power"].shape
    for name in ("spectrum.png", "eigenvalues.png", "frequency_response.png"):
        assert (out / name).stat().st_size > 1000
    assert "peaks" in capsys.readouterr().out


def test_spectrum_command_permuted_is_flat(tmp_path):
    out = tmp_path / "specp"
    rc = cli.main(["spectrum", "--task", "synthetic", "--permute", "--max-samples", "60", "--hidden", "8",
                   "--method", "power", "--no-plots", "--out", str(out)])
    assert rc == 0
    m = io.read_results(out)["metrics"]
    assert m["spectral_flatness"] > 0.8 and m["matched_method"] == "power"


def test_spectrum_command_bad_arguments(tmp_path, capsys):
    rc = cli.main(["spectrum", "--task", "synthetic", "--max-samples", "5", "--nperseg", "5000",
                   "--out", str(tmp_path / "y")])
    assert rc == 2
    assert "nperseg" in capsys.readouterr().err


def test_memory_command_default_model_has_memory(tmp_path):
    # the default residual of `memory` is rotational: N = 64 distinct filters give a large capacity
    # (measured 47.5); a scaled identity gives every unit the same filter and almost none
    out = tmp_path / "default"
    assert cli.main(["memory", "--max-lag", "60", "--seq-len", "3000", "--batch-size", "2", "--no-plots",
                     "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["model"]["residual"] == "rotational"
    assert doc["metrics"]["memory_capacity_total"] > 20


def test_memory_refuses_resume_with_the_reason(tmp_path, capsys):
    rc = cli.main(["memory", "--hidden", "4", "--max-lag", "5", "--seq-len", "300", "--no-plots",
                   "--out", str(tmp_path / "m"), "--resume"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "does not checkpoint" in err and "without --resume" in err and "\n" not in err
    assert not (tmp_path / "m").exists()
