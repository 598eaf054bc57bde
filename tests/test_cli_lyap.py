"""``wcrnn-dyn lyap``: files written, their contents, and error handling."""
import json

import numpy as np
import pytest

from wcrnn_dyn.cli import main


def _read(out):
    with open(out / "results.json") as f:
        doc = json.load(f)
    with np.load(out / "results.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return doc, arrays


def test_lyap_rotational_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["lyap", "--hidden", "10", "--residual", "rotational", "--mu", "0.99", "--eps", "0.05",
               "--seq-len", "400", "--burn-in", "50", "--two-trajectory", "--out", str(out)])
    assert rc == 0
    doc, arrays = _read(out)
    m = doc["metrics"]
    assert len(m["exponents"]) == 10 and m["bound"] is not None and m["within_bound"] is True
    assert abs(m["two_trajectory_top"] - m["top_exponent"]) < 1e-5
    assert np.allclose(m["predicted_exponents"], np.log(0.99))
    assert doc["config"]["settings"]["burn_in"] == 50 and doc["config"]["T"] == 400
    assert doc["provenance"]["package"] == "wcrnn_dyn" and "argv" in doc["provenance"]
    np.testing.assert_allclose(arrays["exponents"], m["exponents"])
    assert arrays["history"].shape == (350, 10)
    for png in ("spectrum.png", "convergence.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    text = capsys.readouterr().out
    assert "lyap: top" in text and "bound" in text


def test_lyap_tangent_dtype_float32(tmp_path):
    runs = {}
    for dt in ("float64", "float32"):
        out = tmp_path / dt
        assert main(["lyap", "--hidden", "12", "--residual", "rotational", "--mu", "0.99", "--eps", "0.05",
                     "--seq-len", "400", "--burn-in", "50", "--qr-every", "auto", "--tangent-dtype", dt,
                     "--out", str(out)]) == 0
        runs[dt] = _read(out)[0]
    assert runs["float32"]["config"]["settings"]["tangent_dtype"] == "float32"
    e64, e32 = (np.asarray(runs[d]["metrics"]["exponents"]) for d in ("float64", "float32"))
    assert 0 < np.abs(e64 - e32).max() < 1e-6


def test_lyap_elman_autonomous_batch_and_adding(tmp_path):
    out = tmp_path / "elman"
    rc = main(["lyap", "--arch", "elman", "--hidden", "6", "--input", "none", "--seq-len", "300", "--eps", "0",
               "--residual", "rotational", "--mu", "0.95", "--burn-in", "200", "--no-plots", "--out", str(out)])
    assert rc == 0
    doc, _ = _read(out)
    m = doc["metrics"]
    # Elman WCRI at eps = 0, zero input: exponents are log|eig(Lambda)|
    np.testing.assert_allclose(m["exponents"], m["predicted_exponents"], atol=1e-10)
    assert m["bound"] is None and "Elman" in m["bound_note"]
    out2 = tmp_path / "adding"
    rc = main(["lyap", "--hidden", "8", "--input", "adding", "--seq-len", "200", "--batch-size", "3", "-k", "4",
               "--residual", "heterogeneous", "--no-plots", "--out", str(out2)])
    assert rc == 0
    doc, arrays = _read(out2)
    assert doc["config"]["batch"] == 3 and arrays["per_sequence"].shape == (3, 4)
    assert len(doc["metrics"]["spread"]) == 4


def test_lyap_digits_input(tmp_path):
    out = tmp_path / "digits"
    rc = main(["lyap", "--hidden", "6", "--input", "digits", "--batch-size", "2", "--burn-in", "10", "--no-plots",
               "--out", str(out)])
    assert rc == 0
    doc, _ = _read(out)
    assert doc["config"]["T"] == 64 and doc["config"]["settings"]["accumulated_steps"] == 54


@pytest.mark.parametrize("argv,needle", [
    (["-k", "0"], "k must be"),
    (["--seq-len", "20", "--burn-in", "30"], "burn_in + washout"),
    (["--qr-every", "0"], "--qr-every"),
    (["--batch-size", "0"], "--batch-size"),
    (["--w-scale", "-0.5"], "--w-scale"),
    (["--arch", "elman", "--w-scale", "0.5"], "--w-scale"),
])
def test_lyap_bad_arguments_exit_2(tmp_path, capsys, argv, needle):
    rc = main(["lyap", "--hidden", "4", "--seq-len", "50", "--burn-in", "5", "--no-plots", "--out",
               str(tmp_path / "x")] + argv)
    assert rc == 2
    assert needle in capsys.readouterr().err


def test_plot_functions_reexported_and_return_fig_ax():
    import wcrnn_dyn as wd
    net = wd.WCRNN(1, 5, 1, residual=wd.residuals.rotational(5, 0.99), eps=0.1, seed=0)
    r = wd.lyapunov_spectrum(net, np.random.default_rng(0).standard_normal((3, 200, 1)), burn_in=20)
    fig, ax = wd.plotting.plot_lyapunov_spectrum(r, predicted=wd.theory.predicted_exponents(net),
                                                 interval=wd.theory.exponent_interval(net))
    assert len(ax.lines) >= 1 and fig is ax.figure
    fig2, ax2 = wd.plotting.plot_lyapunov_convergence(r, indices=[0, 4])
    assert len(ax2.get_lines()) == 4          # two curves + two final-value lines
    fig3, ax3 = wd.plotting.plot_lyapunov_spectrum(r.exponents)
    import matplotlib.pyplot as plt
    plt.close("all")


def test_lyap_w_scale_reaches_the_model(tmp_path):
    # W = 0 (w_scale 0): the Jacobian is the residual, so the exponents are log mu exactly (eps = 0 oracle
    # reached through the CLI's weight scale instead)
    out = tmp_path / "w0"
    rc = main(["lyap", "--hidden", "6", "--mu", "0.9", "--residual", "rotational", "--w-scale", "0",
               "--seq-len", "60", "--burn-in", "5", "--no-plots", "--out", str(out)])
    assert rc == 0
    doc, _ = _read(out)
    assert doc["config"]["model"]["w_scale"] == 0.0
    np.testing.assert_allclose(doc["metrics"]["exponents"], np.log(0.9), atol=1e-12)


def test_regime_is_measured_and_the_residual_regime_kept_apart(tmp_path):
    """results.json says what the network does (from the measured top exponent and its error) and, apart,
    what the residual alone would do; the spectrum figure keeps the spectrum on scale when the bound is wide."""
    import json
    import subprocess
    import sys
    out = tmp_path / "r"
    subprocess.run([sys.executable, "-m", "wcrnn_dyn", "lyap", "--hidden", "16", "--residual", "rotational",
                    "--seq-len", "600", "--out", str(out)], check=True, capture_output=True)
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["regime_of_residual"] == "subcritical"
    top, se = m["top_exponent"], m["stderr"][0]
    expected = "chaotic" if top > 2 * se else "contracting" if top < -2 * se else "neutral"
    assert m["regime"] == expected


def test_spectrum_plot_keeps_the_data_on_scale():
    import numpy as np
    from wcrnn_dyn.plotting import plot_lyapunov_spectrum
    lam = np.linspace(-0.005, -0.02, 10)
    fig, ax = plot_lyapunov_spectrum(lam, predicted=np.full(10, -0.01), interval=(-0.5, 0.4))
    lo, hi = ax.get_ylim()
    assert lo > -0.1 and hi < 0.1  # the (-0.5, 0.4) bound does not stretch the axis
    assert any("off scale" in t.get_text() for t in ax.get_legend().get_texts())


# ------------------------------------------------------------------------------ checkpoint, resume, auto, until-tol
LONG = ["lyap", "--hidden", "8", "--residual", "rotational", "--seq-len", "3000", "--burn-in", "50", "-k", "5",
        "--no-plots"]


class _CtrlCAfter:
    """Stands in for the CLI's SIGINT guard: reports a Ctrl-C at the n-th look (the n-th kernel call)."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def requested(self):
        self.seen += 1
        return self.seen >= self.n


def test_ctrl_c_checkpoints_and_resume_gives_the_uninterrupted_exponents(tmp_path, capsys, monkeypatch):
    import wcrnn_dyn.lyapunov as L
    from wcrnn_dyn._cli import lyap as cli_lyap
    monkeypatch.setattr(L, "FLOPS_PER_CHUNK", 1e5)     # many kernel calls, so Ctrl-C lands mid-run
    ref = tmp_path / "ref"
    assert main(LONG + ["--out", str(ref)]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    argv = LONG + ["--out", str(out)]
    monkeypatch.setattr(cli_lyap, "_Interrupt", lambda: _CtrlCAfter(4))
    assert main(argv) == 130
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "interrupted" in err[0] and "Traceback" not in err[0], err
    assert "resume with: wcrnn-dyn lyap" in err[0] and err[0].endswith("--resume")
    ck = out / "checkpoint" / "checkpoint.npz"
    assert ck.exists() and not (out / "results.json").exists()
    st = L.LyapunovState.from_arrays({k: v for k, v in np.load(ck).items() if k != "cli"})
    assert 50 < st.steps_done < 3000 and not st.finished
    # the folder now holds a run: without --resume it is refused, with other options too (naming the option)
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(argv[:-2] + ["--burn-in", "60", "--out", str(out), "--resume"]) == 2
    line = capsys.readouterr().err.strip()
    assert "--burn-in 50" in line and "--burn-in 60" in line and "\n" not in line
    assert main(LONG[:5] + ["--seq-len", "4000"] + LONG[7:] + ["--out", str(out), "--resume"]) == 2
    assert "--seq-len" in capsys.readouterr().err
    monkeypatch.setattr(cli_lyap, "_Interrupt", lambda: _CtrlCAfter(10 ** 9))
    assert main(argv + ["--resume"]) == 0
    doc, arrays = _read(out)
    _, ref_arrays = _read(ref)
    for name in ("exponents", "stderr", "history", "block_log_r"):
        np.testing.assert_allclose(arrays[name], ref_arrays[name], rtol=0, atol=1e-12, err_msg=name)
    assert doc["config"]["settings"]["resumed_at_step"] == st.steps_done
    assert not (out / "checkpoint").exists()          # removed once results.json is written
    assert main(argv + ["--resume"]) == 2              # a finished run: nothing to resume
    assert "nothing to resume" in capsys.readouterr().err


def test_checkpoint_written_periodically(tmp_path, monkeypatch):
    import wcrnn_dyn.lyapunov as L
    from wcrnn_dyn._cli import lyap as cli_lyap
    monkeypatch.setattr(L, "FLOPS_PER_CHUNK", 1e5)
    saved = []
    real = cli_lyap._save_checkpoint
    monkeypatch.setattr(cli_lyap, "_save_checkpoint", lambda p, s, fp, el: saved.append(s.steps_done) or
                        real(p, s, fp, el))
    assert main(LONG + ["--checkpoint-every", "1e-9", "--out", str(tmp_path / "o")]) == 0
    assert len(saved) >= 4 and saved == sorted(saved) and saved[-1] == 3000   # the last: the finished state


def test_corrupt_checkpoint_is_one_line(tmp_path, capsys):
    out = tmp_path / "o"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "checkpoint.npz").write_bytes(b"PK\x03\x04garbage")
    assert main(LONG + ["--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unreadable or incomplete" in err and "--overwrite" in err and "\n" not in err
    assert main(LONG + ["--out", str(out), "--overwrite"]) == 0


def test_qr_every_auto_and_until_tol(tmp_path, capsys):
    base = ["lyap", "--hidden", "8", "--residual", "rotational", "--mu", "0.9", "--no-plots"]
    assert main(base + ["--seq-len", "3000", "--out", str(tmp_path / "one")]) == 0
    assert main(base + ["--seq-len", "3000", "--qr-every", "auto", "--out", str(tmp_path / "auto")]) == 0
    d1, _ = _read(tmp_path / "one")
    da, _ = _read(tmp_path / "auto")
    assert da["config"]["settings"]["qr_every"] == "auto" and da["config"]["settings"]["auto_max_interval"] > 1
    np.testing.assert_allclose(da["metrics"]["exponents"], d1["metrics"]["exponents"], rtol=0, atol=1e-9)
    assert main(base + ["--seq-len", "40000", "--qr-every", "auto", "--until-tol", "--tol", "2e-3",
                        "--out", str(tmp_path / "tol")]) == 0
    dt, _ = _read(tmp_path / "tol")
    s = dt["config"]["settings"]
    assert s["until_tol"] and s["stopped_early"] and s["accumulated_steps"] < s["max_accumulated_steps"]
    assert dt["metrics"]["converged"] and max(dt["metrics"]["stderr"]) <= 2e-3
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(base + ["--qr-every", "sometimes", "--out", str(tmp_path / "bad")])
    assert e.value.code == 2 and "--qr-every" in capsys.readouterr().err


def test_help_documents_auto_until_tol_and_resume(capsys):
    with pytest.raises(SystemExit):
        main(["lyap", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("{N,auto}", "--until-tol", "--resume", "--checkpoint-every", "Ctrl-C"):
        assert needle in text, needle
