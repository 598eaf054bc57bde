"""``wcrnn-dyn``: every failure a user can cause ends in one line (exit 2, no traceback unless -v), nothing is
computed for an output folder that cannot be written, an existing run is never overwritten silently, Ctrl-C
exits 130 with the command that resumes, divergence exits 1, one vocabulary with deprecated old spellings,
help shows each default once, quiet by default."""
import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import cli
from wcrnn_dyn import training as tr

TINY_TRAIN = ["train", "--task", "adding", "--seq-len", "10", "--n-train", "60", "--n-val", "20", "--n-test", "20",
              "--hidden", "6", "--batch-size", "20", "--steps", "6", "--no-figure"]
TRAIN_NO_HIDDEN = TINY_TRAIN[:11] + TINY_TRAIN[13:]
TINY_LYAP = ["lyap", "--hidden", "4", "--seq-len", "60", "--burn-in", "5", "--no-plots"]
TINY_MEMORY = ["memory", "--hidden", "4", "--max-lag", "5", "--seq-len", "300", "--batch-size", "2", "--no-plots"]
TINY_SPECTRUM = ["spectrum", "--task", "synthetic", "--max-samples", "20", "--hidden", "8", "--no-plots"]


def _errors(err):
    """The stderr lines that are not deprecation warnings."""
    return [ln for ln in err.splitlines() if ln.strip() and "is deprecated" not in ln]


def _one_error(capsys, *needles):
    cap = capsys.readouterr()
    lines = _errors(cap.err)
    assert len(lines) == 1, cap.err
    assert "Traceback" not in cap.err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _unwritable(tmp_path):
    """An output folder that cannot be created or written: inside a read-only folder, or (as root, where
    permissions do not bind) below a regular file, which no user can create a folder in."""
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        (ro / "probe").touch()
    except OSError:
        return ro / "out"
    (ro / "probe").unlink()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "out"


def _forbid(monkeypatch, target):
    def boom(*a, **k):
        raise AssertionError(f"{target} was called: the computation started before the output check")
    monkeypatch.setattr(target, boom)


# ------------------------------------------------------------------------------------ read-only output
@pytest.mark.parametrize("argv,forbidden", [
    (TINY_TRAIN, "wcrnn_dyn.build.task_data"),
    (TINY_LYAP, "wcrnn_dyn.lyapunov.lyapunov_spectrum"),
    (TINY_MEMORY, "wcrnn_dyn.memory.input_sensitivity"),
    (TINY_SPECTRUM, "wcrnn_dyn.spectral.data_spectrum"),
    (["reproduce", "theory", "--tiny"], "wcrnn_dyn.experiments.run_all"),
    (["data", "--task", "adding"], "wcrnn_dyn._cli.data.locate"),
])
def test_unwritable_out_is_refused_before_any_computation(tmp_path, capsys, monkeypatch, argv, forbidden):
    out = _unwritable(tmp_path)
    _forbid(monkeypatch, forbidden)
    assert cli.main([*argv, "--out", str(out)]) == 2
    _one_error(capsys, "cannot write to the output folder", str(out), "--out")


def test_unwritable_out_sweep(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[defaults]\nkind = "theory"\nN = 4\n[grid]\nmu = [0.9]\n')
    out = _unwritable(tmp_path)
    _forbid(monkeypatch, "wcrnn_dyn.sweep.run_sweep")
    assert cli.main(["sweep", str(cfg), "--out", str(out)]) == 2
    _one_error(capsys, "cannot write to the output folder")


def test_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main([*TINY_LYAP, "--out", str(f)]) == 2
    _one_error(capsys, "is a file, not a folder")


# ------------------------------------------------------------------------------------ broken model files
def _model_files(tmp_path):
    net = wd.WCRNN(1, 4, 1, residual=wd.residuals.scaled_identity(4, 0.9), eps=0.1, seed=0)
    good = tmp_path / "good.npz"
    net.save(good)
    data = good.read_bytes()
    files = {}
    files["truncated"] = tmp_path / "trunc.npz"
    files["truncated"].write_bytes(data[:len(data) // 2])
    files["empty"] = tmp_path / "empty.npz"
    files["empty"].write_bytes(b"")
    files["results"] = tmp_path / "results.npz"
    np.savez(files["results"], exponents=np.zeros(3), history=np.zeros((2, 3)))
    files["text"] = tmp_path / "notes.txt"
    files["text"].write_text("W = 1\n")
    files["missing"] = tmp_path / "nope.npz"
    files["folder"] = tmp_path
    return files


EXPECT = {"truncated": "truncated or corrupt", "empty": "empty (0 bytes)", "results": "not a saved model",
          "text": "not an .npz archive", "missing": "no such file", "folder": "is a folder"}


@pytest.mark.parametrize("kind", sorted(EXPECT))
@pytest.mark.parametrize("argv", [TINY_LYAP[:1] + TINY_LYAP[3:], TINY_MEMORY[:1] + TINY_MEMORY[3:],
                                  TINY_SPECTRUM[:5] + ["--no-plots"], TRAIN_NO_HIDDEN])
def test_broken_model_file_one_line(tmp_path, capsys, kind, argv):
    path = _model_files(tmp_path)[kind]
    out = tmp_path / "o"
    assert cli.main([*argv, "--model", str(path), "--out", str(out)]) == 2
    line = _one_error(capsys, str(path), EXPECT[kind])
    assert "--model" in line
    assert not (out / "results.json").exists()


def test_results_npz_hint_names_model_npz(tmp_path, capsys):
    path = _model_files(tmp_path)["results"]
    assert cli.main(["lyap", "--model", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "model.npz" in _one_error(capsys)


# ------------------------------------------------------------------------------------ existing runs
@pytest.mark.parametrize("argv", [TINY_LYAP, TINY_MEMORY, TINY_SPECTRUM])
def test_analysis_refuses_an_existing_run_unless_overwrite(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert cli.main([*argv, "--out", str(out)]) == 0
    before = (out / "results.json").read_bytes()
    capsys.readouterr()
    assert cli.main([*argv, "--out", str(out)]) == 2
    _one_error(capsys, "already holds a run", "--overwrite")
    assert (out / "results.json").read_bytes() == before
    assert cli.main([*argv, "--seed", "1", "--overwrite", "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["config"] != json.loads(before)["config"]


def test_train_refuses_existing_run_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*TINY_TRAIN, "--out", str(out)]) == 0
    before = (out / "results.json").read_bytes()
    capsys.readouterr()
    # a finished run: refused without a flag; --resume has nothing to resume; --overwrite trains again
    assert cli.main([*TINY_TRAIN, "--out", str(out)]) == 2
    _one_error(capsys, "already holds a run", "--resume", "--overwrite")
    assert cli.main([*TINY_TRAIN, "--resume", "--out", str(out)]) == 2
    _one_error(capsys, "nothing to resume", "--overwrite")
    assert (out / "results.json").read_bytes() == before
    assert cli.main([*TINY_TRAIN, "--overwrite", "--out", str(out)]) == 0
    # a checkpoint alone (an interrupted run) is a run too: it is not deleted by a plain rerun
    out2 = tmp_path / "ck"
    assert cli.main([*TINY_TRAIN, "--keep-checkpoint", "--out", str(out2)]) == 0
    (out2 / "results.json").unlink()
    ck = out2 / "checkpoint" / tr.CHECKPOINT_NAME
    stamp = ck.read_bytes()
    capsys.readouterr()
    assert cli.main([*TINY_TRAIN, "--out", str(out2)]) == 2
    _one_error(capsys, "checkpoint", "--resume")
    assert ck.read_bytes() == stamp
    assert cli.main([*TINY_TRAIN, "--resume", "--out", str(out2)]) == 0   # the finished checkpoint: no new steps
    assert json.loads((out2 / "results.json").read_text())["metrics"]["steps_done"] == 6
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:                                  # exclusive flags
        cli.main([*TINY_TRAIN, "--resume", "--overwrite", "--out", str(out2)])
    assert e.value.code == 2
    _one_error(capsys, "not allowed with")


def test_resume_with_other_options_says_how_to_fix_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*TINY_TRAIN, "--keep-checkpoint", "--out", str(out)]) == 0
    (out / "results.json").unlink()
    capsys.readouterr()
    argv = [*TINY_TRAIN[:13], "--batch-size", "10", *TINY_TRAIN[15:]]
    assert cli.main([*argv, "--resume", "--out", str(out)]) == 2
    line = _one_error(capsys, "batch_size", "--overwrite")
    assert "resume=False" not in line


def test_overwrite_deletes_the_old_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert cli.main([*TINY_TRAIN, "--keep-checkpoint", "--out", str(out)]) == 0
    assert (out / "checkpoint" / tr.CHECKPOINT_NAME).exists()
    assert cli.main([*TINY_TRAIN, "--overwrite", "--out", str(out)]) == 0
    assert not (out / "checkpoint").exists()


# ------------------------------------------------------------------------------------ divergence, bad values
def test_train_divergence_exit_1_and_recorded(tmp_path, capsys):
    out = tmp_path / "div"
    rc = cli.main(["train", "--task", "adding", "--mu", "1.5", "--seq-len", "50", "--steps", "50", "--n-train", "500",
                   "--n-val", "50", "--n-test", "100", "--no-figure", "--out", str(out)])
    assert rc == 1
    line = _one_error(capsys, "training diverged", "--lr")
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["diverged"] is True and m["divergence_reason"]
    assert str(out) in line


def test_train_not_diverged_is_recorded_false(tmp_path):
    out = tmp_path / "ok"
    assert cli.main([*TINY_TRAIN, "--out", str(out)]) == 0
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["diverged"] is False and m["divergence_reason"] is None


@pytest.mark.parametrize("argv,option", [
    (TINY_TRAIN + ["--mu", "-2"], "--mu"), (TINY_TRAIN + ["--eps", "-0.1"], "--eps"),
    (TINY_TRAIN + ["--hidden", "0"], "--hidden"), (TINY_TRAIN + ["--batch-size", "-3"], "--batch-size"),
    (TINY_TRAIN + ["--lr", "nan"], "--lr"), (TINY_TRAIN + ["--threads", "0"], "--threads"),
    (TINY_LYAP + ["--mu", "-1"], "--mu"), (TINY_LYAP + ["--eps", "-1"], "--eps"),
    (TINY_LYAP + ["--hidden", "-4"], "--hidden"), (TINY_LYAP + ["--seq-len", "0"], "--seq-len"),
    (TINY_LYAP + ["--mu", "inf"], "--mu"), (TINY_LYAP + ["--seed", "-1"], "--seed"),
    (TINY_MEMORY + ["--mu", "-0.5"], "--mu"), (TINY_MEMORY + ["--train-fraction", "1.5"], "--train-fraction"),
    (TINY_MEMORY + ["--max-lag", "400"], "--max-lag"),
    (TINY_SPECTRUM + ["--hidden", "0"], "--hidden"), (TINY_SPECTRUM + ["--max-samples", "0"], "--max-samples"),
])
def test_senseless_values_refused_up_front_naming_the_option(tmp_path, capsys, monkeypatch, argv, option):
    _forbid(monkeypatch, "wcrnn_dyn.build.make_model")
    out = tmp_path / "o"
    assert cli.main([*argv, "--out", str(out)]) == 2
    assert _one_error(capsys, option).startswith("wcrnn-dyn ")
    assert not out.exists()


def test_parse_errors_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["lyap", "--residual", "nosuch", "--out", "x"])
    assert e.value.code == 2
    line = _one_error(capsys, "--residual", "--help")
    assert line.startswith("wcrnn-dyn lyap: error:")


def test_verbose_after_the_subcommand_shows_the_traceback(tmp_path, capsys):
    assert cli.main(["lyap", "-v", "--hidden", "4", "--seq-len", "20", "--burn-in", "30", "--no-plots",
                     "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "burn_in" in err
    assert cli.main(["-v", "lyap", "--hidden", "4", "--seq-len", "20", "--burn-in", "30", "--no-plots",
                     "--out", str(tmp_path / "b")]) == 2
    assert "Traceback" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["lyap", "-vv", "--out", "x"])
    assert args.sub_verbose == 2


# ------------------------------------------------------------------------------------ SIGINT
def _wait_for(pred, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _interrupt(proc, timeout=60):
    """SIGINT, then wait for the exit; returns (stdout, stderr)."""
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=timeout)


def _step(ck):
    try:
        return tr.load_checkpoint(ck)["meta"]["step"]
    except (ValueError, OSError, KeyError):
        return 0


# Known flake (session 5): under the full suite (all test files collected), about one run in three, the
# `wcrnn-dyn train` child does not react to SIGINT at all (neither a first nor a second one within 90 s), also at
# the session's starting commit; never seen when the file or this test runs alone (cold or warm Numba cache).
# The pytest process's SIGINT disposition and signal mask are unchanged (checked); cause not found.  Only that
# timeout is tolerated: a wrong exit status, message or checkpoint still fails.
@pytest.mark.xfail(raises=subprocess.TimeoutExpired, strict=False,
                   reason="known flake: the train child sometimes ignores SIGINT under the full suite")
@pytest.mark.slow  # measured > 5 s (pytest --durations); deselect with -m "not slow"
def test_sigint_train_exits_130_with_resume_command_and_resumes(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = tmp_path / "run"
    argv = ["train", "--task", "adding", "--seq-len", "10", "--n-train", "200", "--n-val", "20", "--n-test", "20",
            "--hidden", "8", "--batch-size", "20", "--steps", "100000", "--checkpoint-every", "5", "--no-figure",
            "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "wcrnn_dyn", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ck = out / "checkpoint" / tr.CHECKPOINT_NAME
    try:
        assert _wait_for(lambda: ck.exists() and _step(ck) >= 10, proc), "no checkpoint appeared"
        stdout, stderr = _interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    lines = _errors(stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "interrupted" in lines[0] and "resume with: wcrnn-dyn train" in lines[0] and "--resume" in lines[0]
    assert not (out / "results.json").exists()
    step = _step(ck)   # the checkpoint is whole
    assert 10 <= step < 100000
    # the printed command resumes the run (here with a smaller budget, which the trainer refuses: the step
    # budget is part of the fingerprint) -> run it as printed but stop it again quickly
    cmd = shlex.split(lines[0].split("resume with: ", 1)[1])
    assert cmd[0] == "wcrnn-dyn" and cmd[1:] == [*argv, "--resume"]
    proc = subprocess.Popen([sys.executable, "-m", "wcrnn_dyn", *cmd[1:]], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: _step(ck) > step + 5, proc), "the resumed run did not continue"
        _, stderr = _interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "resume with:" in stderr


def test_sigint_lyap_exits_130_one_line(tmp_path):
    out = tmp_path / "ly"
    proc = subprocess.Popen([sys.executable, "-m", "wcrnn_dyn", "lyap", "--hidden", "32", "--seq-len", "5000000",
                             "--no-plots", "--threads", "1", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(out.exists, proc), "the output folder was not created"
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    lines = _errors(stderr)
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in stderr, stderr
    assert not (out / "results.json").exists()
    # Ctrl-C pauses the spectrum at the end of a kernel call and checkpoints it (issue 12: nothing is lost)
    ck = out / "checkpoint" / "checkpoint.npz"
    assert ck.exists() and "resume with: wcrnn-dyn lyap" in lines[0] and lines[0].endswith("--resume"), lines[0]
    from wcrnn_dyn.lyapunov import LyapunovState
    with np.load(ck) as z:
        st = LyapunovState.from_arrays({k: z[k] for k in z.files if k != "cli"})
    assert 0 < st.steps_done < 5000000 and not st.finished


# ------------------------------------------------------------------------------------ vocabulary
@pytest.mark.parametrize("old,new,value", [
    (["lyap", "--steps", "60"], ["lyap", "--seq-len", "60"], ("seq_len", 60)),
    (["lyap", "-T", "60"], ["lyap", "--seq-len", "60"], ("seq_len", 60)),
    (["lyap", "--batch", "3"], ["lyap", "--batch-size", "3"], ("batch_size", 3)),
    (["lyap", "-B", "3"], ["lyap", "--batch-size", "3"], ("batch_size", 3)),
    (["lyap", "--elman-init", "identity"], ["lyap", "--init", "identity"], ("init", "identity")),
    (["memory", "--n-steps", "700"], ["memory", "--seq-len", "700"], ("seq_len", 700)),
    (["memory", "--batch", "4"], ["memory", "--batch-size", "4"], ("batch_size", 4)),
    (["memory", "--T", "90"], ["memory", "--sensitivity-seq-len", "90"], ("sensitivity_seq_len", 90)),
    (["spectrum", "--T", "300"], ["spectrum", "--seq-len", "300"], ("seq_len", 300)),
    (["train", "--task", "adding", "-T", "30"], ["train", "--task", "adding", "--seq-len", "30"], ("seq_len", 30)),
    (["train", "--task", "adding", "--batch", "7"], ["train", "--task", "adding", "--batch-size", "7"],
     ("batch_size", 7)),
    (["train", "--task", "adding", "--model", "elman"], ["train", "--task", "adding", "--arch", "elman"],
     ("arch", "elman")),
])
def test_old_spellings_work_with_one_deprecation_line(capsys, old, new, value):
    p = cli.build_parser()
    a = p.parse_args([*old, "--out", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "deprecated" in err[0] and old[-2] in err[0] and new[-2] in err[0]
    b = p.parse_args([*new, "--out", "x"])
    assert capsys.readouterr().err == ""
    assert getattr(a, value[0]) == getattr(b, value[0]) == value[1]


def test_deprecated_spellings_end_to_end(tmp_path, capsys):
    out = tmp_path / "e"
    assert cli.main(["train", *TINY_TRAIN[1:], "--model", "elman", "--init", "identity", "--out", str(out)]) == 0
    assert "--arch elman" in capsys.readouterr().err
    assert isinstance(wd.load_model(out / "model.npz"), wd.Elman)
    assert cli.main(["lyap", "--hidden", "4", "--steps", "60", "-B", "2", "--burn-in", "5", "--no-plots",
                     "--out", str(tmp_path / "l")]) == 0
    doc = json.loads((tmp_path / "l" / "results.json").read_text())
    assert doc["config"]["T"] == 60 and doc["config"]["batch"] == 2


def test_same_names_across_subcommands():
    p = cli.build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))

    def opts(name):
        return {s for a in sub.choices[name]._actions if a.help is not argparse.SUPPRESS for s in a.option_strings}
    for name in ("lyap", "memory", "spectrum", "train"):
        o = opts(name)
        for flag in ("--model", "--arch", "--init", "--hidden", "--residual", "--mu", "--eps", "--seq-len", "--out",
                     "--overwrite", "-v"):
            assert flag in o, (name, flag)
        assert not o & {"--steps", "-T", "--T", "--n-steps", "--batch", "-B", "--elman-init"} - (
            {"--steps"} if name == "train" else set()), name   # train's --steps: optimizer steps
    for name in ("lyap", "memory", "train"):
        assert {"--batch-size", "--threads"} <= opts(name)


def test_model_with_build_options_refused(tmp_path, capsys):
    net = wd.WCRNN(1, 4, 1, residual=wd.residuals.scaled_identity(4, 0.9), eps=0.1, seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    for argv in (["lyap", "--hidden", "8"], ["memory", "--mu", "0.5"], ["spectrum", "--eps", "0.1"],
                 ["train", "--task", "adding", "--hidden", "8"]):
        assert cli.main([*argv, "--model", str(path), "--out", str(tmp_path / "o")]) == 2
        _one_error(capsys, argv[-2], "cannot be combined with --model")


def test_lyap_model_with_two_inputs_suggests_n_in(tmp_path, capsys):
    net = wd.WCRNN(2, 4, 1, residual=wd.residuals.scaled_identity(4, 0.9), eps=0.1, seed=0)
    path = tmp_path / "m2.npz"
    net.save(path)
    assert cli.main([*TINY_LYAP[:1], "--model", str(path), "--out", str(tmp_path / "o")]) == 2
    _one_error(capsys, "--n-in 2")
    assert cli.main(["lyap", "--model", str(path), "--n-in", "2", "--seq-len", "60", "--burn-in", "5",
                     "--no-plots", "--out", str(tmp_path / "o")]) == 0
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    assert doc["config"]["model"]["loaded_from"] == str(path) and doc["config"]["model"]["n_in"] == 2


def test_spectrum_with_model_uses_the_saved_network(tmp_path):
    net = wd.WCRNN(1, 6, 1, residual=wd.residuals.rotational(6, 0.9), eps=0.0, seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    out = tmp_path / "s"
    assert cli.main(["spectrum", "--task", "synthetic", "--max-samples", "20", "--model", str(path), "--no-plots",
                     "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    ev = np.load(out / "results.npz")["residual_eigenvalues"]
    np.testing.assert_allclose(np.sort(np.abs(ev)), 0.9, rtol=1e-12)      # the saved residual, not the default
    assert doc["config"]["model"]["loaded_from"] == str(path) and doc["config"]["matched_mu"] == pytest.approx(0.9)
    assert len(doc["metrics"]["matched_freqs"]) == 3                       # N = 6 -> 3 rotation pairs


def test_train_from_saved_model(tmp_path, capsys):
    out = tmp_path / "a"
    assert cli.main([*TINY_TRAIN, "--out", str(out)]) == 0
    out2 = tmp_path / "b"
    assert cli.main([*TRAIN_NO_HIDDEN, "--model", str(out / "model.npz"), "--out", str(out2)]) == 0
    doc = json.loads((out2 / "results.json").read_text())
    assert doc["config"]["model_file"] == str(out / "model.npz") and doc["config"]["hidden"] == 6
    capsys.readouterr()
    assert cli.main(["train", "--task", "digits", "--model", str(out / "model.npz"), "--out", str(tmp_path / "c")]) == 2
    _one_error(capsys, "input", "digits")


def test_threads_option_limits_the_computation(tmp_path):
    import numba
    before = numba.get_num_threads()
    try:
        assert cli.main([*TINY_LYAP, "--threads", "1", "--out", str(tmp_path / "t")]) == 0
        assert numba.get_num_threads() == 1
        doc = json.loads((tmp_path / "t" / "results.json").read_text())
        assert doc["config"]["settings"]["n_threads"] == 1
    finally:
        numba.set_num_threads(before)


# ------------------------------------------------------------------------------------ help
def _subparsers():
    p = cli.build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_help_shows_each_default_once():
    for name, sp in _subparsers().items():
        fmt = sp._get_formatter()
        text = sp.format_help()
        assert "(default: None)" not in text, name
        for a in sp._actions:
            if a.help is argparse.SUPPRESS:
                continue
            h = fmt._expand_help(a).lower()
            assert len(re.findall(r"\bdefault\b(?!_)", h)) <= 1, (name, a.option_strings, h)
            if a.required and a.option_strings:
                assert not re.findall(r"\bdefault\b(?!_)", h), (name, a.option_strings)
    rep = _subparsers()["reproduce"]
    full = next(a for a in rep._actions if "--full" in a.option_strings)
    assert "default" not in rep._get_formatter()._get_help_string(full)


# ------------------------------------------------------------------------------------ quiet
class _Records:
    """Collects the warnings (and worse) logged under ``name`` while in the block."""

    def __init__(self, name):
        import logging
        self.logger = logging.getLogger(name)
        self.messages = []
        self.handler = logging.Handler(level=logging.WARNING)
        self.handler.emit = lambda record: self.messages.append(record.getMessage())

    def __enter__(self):
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)


def test_default_lyap_does_not_warn_not_converged(tmp_path, capsys):
    out = tmp_path / "q"
    with _Records("wcrnn_dyn") as rec:
        assert cli.main(["lyap", "--hidden", "8", "--seq-len", "150", "--burn-in", "5", "--no-plots",
                         "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert rec.messages == [] and cap.err == ""
    assert len(cap.out.strip().splitlines()) == 1            # the one-line summary
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["converged"] is False and m["tol"] == 1e-3 and "not converged" in cap.out
    # asked for a tolerance: the library's warning is shown
    with _Records("wcrnn_dyn") as rec:
        assert cli.main(["lyap", "--hidden", "8", "--seq-len", "150", "--burn-in", "5", "--no-plots",
                         "--tol", "1e-6", "--out", str(tmp_path / "q2")]) == 0
    assert any("not converged" in r for r in rec.messages)


@pytest.mark.parametrize("argv", [TINY_TRAIN, TINY_MEMORY, TINY_SPECTRUM])
def test_one_line_summary(tmp_path, capsys, argv):
    with _Records("wcrnn_dyn") as rec:
        assert cli.main([*argv, "--out", str(tmp_path / "s")]) == 0
    cap = capsys.readouterr()
    assert len(cap.out.strip().splitlines()) == 1 and cap.err == "" and rec.messages == []


def test_failed_command_leaves_no_empty_output_folder(tmp_path, capsys):
    out = tmp_path / "new" / "run"
    assert cli.main(["train", "--task", "scifar10", "--data-dir", str(tmp_path / "nodata"), "--out", str(out)]) == 2
    _one_error(capsys, "CIFAR-10 not found", "Looked in")
    assert not (tmp_path / "new").exists()
    keep = tmp_path / "existing"
    keep.mkdir()
    assert cli.main(["train", "--task", "scifar10", "--data-dir", str(tmp_path / "nodata"), "--out", str(keep)]) == 2
    assert keep.is_dir()   # a folder the user had is never removed


def test_memory_without_memory_says_why_in_one_line(tmp_path, capsys):
    out = tmp_path / "m"
    with _Records("wcrnn_dyn") as rec:
        assert cli.main(["memory", "--hidden", "8", "--mu", "1.3", "--max-lag", "5", "--seq-len", "300",
                         "--ipc-degree", "2", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and rec.messages == [] and len(cap.out.strip().splitlines()) == 1
    assert "almost no linear memory" in cap.out and "--mu" in cap.out
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["memory_capacity_total"] < 0.5 and "rho" in m["note"]


def test_data_lists_where_it_looked_for_cifar(tmp_path, capsys):
    assert cli.main(["data", "--task", "scifar10", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "NOT FOUND" in out and "Looked in:" in out and str(tmp_path) in out
    assert not out.rstrip().endswith("Looked in:")
