"""``wcrnn-dyn train`` and ``wcrnn-dyn data``: outputs, metrics, resume after SIGKILL, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import cli
from wcrnn_dyn import training as tr
from wcrnn_dyn._cli import train as cli_train

TINY = ["--task", "adding", "--seq-len", "10", "--n-train", "200", "--n-val", "50", "--n-test", "100",
        "--hidden", "8", "--batch-size", "20", "--lr", "1e-2"]


def test_train_adding_writes_results_model_and_figure(tmp_path):
    out = tmp_path / "run"
    rc = cli.main(["train", *TINY, "--steps", "60", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    m = res["metrics"]
    assert 0 <= m["test_mse"] < 1.0 and m["steps_done"] == 60 and m["epochs_done"] == 6
    assert m["n_params"] == 8 * 8 + 8 * 2 + 8 + 8 + 1
    for k in ("config", "provenance", "history"):
        assert k in res
    assert res["config"]["task"] == "adding" and res["config"]["T"] == 10
    assert res["provenance"]["argv"]
    assert len(res["history"]["history"]["val_loss"]) == 6
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert not (out / "checkpoint").exists()  # removed after a completed run
    # the saved model reproduces the recorded test metric on the regenerated test set
    net = wd.load_model(out / "model.npz")
    args = cli.build_parser().parse_args(["train", *TINY, "--steps", "60", "--out", str(out)])
    data = cli_train.load_task_data(cli_train._resolve(args))
    assert tr.evaluate(net, data[4], data[5]).metric == pytest.approx(m["test_mse"], rel=1e-12)
    hist = np.load(out / "results.npz")
    assert hist["train_loss"].shape == (6,)


def test_train_digits_classification(tmp_path):
    out = tmp_path / "digits"
    rc = cli.main(["train", "--task", "digits", "--n-train", "200", "--epochs", "2", "--hidden", "16",
                   "--no-figure", "--out", str(out)])
    assert rc == 0
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert 0.0 <= m["test_accuracy"] <= 1.0 and "val_accuracy" in m
    net = wd.load_model(out / "model.npz")
    assert net.n_out == 10 and net.W.dtype == np.float64


def test_cli_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--task", "nosuchtask", "--out", str(tmp_path)])
    assert cli.main(["train", *TINY, "--lr", "0", "--out", str(tmp_path / "a")]) == 2
    assert "--lr" in capsys.readouterr().err
    assert cli.main(["train", "--task", "digits", "--seq-len", "5", "--out", str(tmp_path / "b")]) == 2
    assert "--seq-len" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", *TINY, "--optimizer", "lbfgs", "--out", str(tmp_path)])
    assert cli.main(["data", "--task", "nosuchtask"]) == 2
    assert cli.main(["train", *TINY, "--w-scale", "-1", "--out", str(tmp_path / "c")]) == 2
    assert "--w-scale" in capsys.readouterr().err
    assert cli.main(["train", *TINY, "--arch", "elman", "--w-scale", "0.5", "--out", str(tmp_path / "d")]) == 2
    assert "--w-scale" in capsys.readouterr().err


def test_w_scale_sets_the_initial_recurrent_weights():
    args = cli.build_parser().parse_args(["train", *TINY, "--w-scale", "0.1", "--out", "x"])
    cfg = cli_train._resolve(args)
    assert cfg["w_scale"] == 0.1
    small = cli_train.build_net(cfg, 2, 1)
    cfg["w_scale"] = 1.0
    big = cli_train.build_net(cfg, 2, 1)
    np.testing.assert_allclose(small.W, 0.1 * big.W, rtol=1e-12)   # same seed, scaled
    np.testing.assert_array_equal(small.U, big.U)


def test_data_command_lists_and_checks(capsys, tmp_path):
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    for name in ("adding", "smnist", "psmnist", "scifar10", "digits"):
        assert name in out
    assert cli.main(["data", "--check", "--task", "digits", "--task", "adding", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("check: OK") == 2
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["metrics"]["n_failed"] == 0
    # an explicit empty data dir: MNIST is not found there -> the check fails with exit status 1
    assert cli.main(["data", "--check", "--task", "smnist", "--data-dir", str(tmp_path)]) == 1
    assert "FAILED" in capsys.readouterr().out


def _cli_cmd(out, extra=()):
    return [sys.executable, "-m", "wcrnn_dyn", "train", *TINY, "--steps", "300", "--checkpoint-every", "5",
            "--no-figure", "--out", str(out), *extra]


@pytest.mark.slow  # measured > 5 s (pytest --durations); deselect with -m "not slow"
def test_sigkilled_run_resumes_to_the_same_parameters(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    ref = tmp_path / "ref"
    subprocess.run(_cli_cmd(ref), check=True, env=env, capture_output=True, timeout=300)
    killed = tmp_path / "killed"
    ck = killed / "checkpoint" / tr.CHECKPOINT_NAME
    proc = subprocess.Popen(_cli_cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    step = 0
    try:
        while time.time() - t0 < 120:
            if ck.exists():
                try:
                    step = tr.load_checkpoint(ck)["meta"]["step"]
                except ValueError:
                    step = 0
                if step >= 15:
                    break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (killed / "results.json").exists()
    meta = tr.load_checkpoint(ck)["meta"]  # the checkpoint left by the killed run is intact
    assert 15 <= meta["step"] < 300
    subprocess.run(_cli_cmd(killed, ["--resume"]), check=True, env=env, capture_output=True, timeout=300)
    a = wd.load_model(ref / "model.npz").get_weights()
    b = wd.load_model(killed / "model.npz").get_weights()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    ra = json.loads((ref / "results.json").read_text())["metrics"]
    rb = json.loads((killed / "results.json").read_text())["metrics"]
    assert ra["test_mse"] == rb["test_mse"]


@pytest.mark.parametrize("init", ["wcri", "identity"])
def test_train_elman(tmp_path, init):
    out = tmp_path / init
    rc = cli.main(["train", *TINY, "--arch", "elman", "--init", init, "--steps", "20", "--no-figure",
                   "--out", str(out)])
    assert rc == 0
    net = wd.load_model(out / "model.npz")
    assert isinstance(net, wd.Elman)
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["init"] == init and np.isfinite(res["metrics"]["test_mse"])


def test_train_reports_throughput(tmp_path):
    """results.json and the summary line carry steps/s and the share of time outside loss_and_grad."""
    import json
    import subprocess
    import sys
    out = tmp_path / "t"
    r = subprocess.run([sys.executable, "-m", "wcrnn_dyn", "train", "--task", "adding", "--seq-len", "10",
                        "--steps", "20", "--hidden", "4", "--no-figure", "--out", str(out)],
                       check=True, capture_output=True, text=True)
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["steps_per_s"] > 0 and 0.0 <= m["share_outside_loss_and_grad"] <= 1.0
    assert "steps/s" in r.stdout and "outside loss_and_grad" in r.stdout
