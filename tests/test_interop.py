"""Networks trained elsewhere: elman_from_torch against torch.nn.RNN's own states (where torch is installed)
and, torch-free, against a NumPy loop of torch's documented update on an .npz with the same key names."""
import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn.interop import elman_from_torch, read_state_dict

try:
    import torch
except ImportError:  # torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (optional: pip install torch); "
                                                      "the torch-free tests below cover the same mapping")


def torch_rnn_reference(sd, X, nonlinearity, prefix=""):
    """torch.nn.RNN's documented update, h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), h_0 = 0."""
    act = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0.0))
    Wih, Whh = sd[prefix + "weight_ih_l0"], sd[prefix + "weight_hh_l0"]
    bih = sd.get(prefix + "bias_ih_l0", 0.0)
    bhh = sd.get(prefix + "bias_hh_l0", 0.0)
    B, T, _ = X.shape
    h = np.zeros((B, Whh.shape[0]))
    out = np.empty((B, T, Whh.shape[0]))
    for t in range(T):
        h = act(X[:, t] @ Wih.T + bih + h @ Whh.T + bhh)
        out[:, t] = h
    return out


def random_sd(N=6, d=3, n_out=2, seed=0, prefix="", readout="fc."):
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(N)
    sd = {prefix + "weight_ih_l0": rng.uniform(-k, k, (N, d)), prefix + "weight_hh_l0": rng.uniform(-k, k, (N, N)),
          prefix + "bias_ih_l0": rng.uniform(-k, k, N), prefix + "bias_hh_l0": rng.uniform(-k, k, N)}
    if readout:
        sd[readout + "weight"] = rng.standard_normal((n_out, N))
        sd[readout + "bias"] = rng.standard_normal(n_out)
    return sd


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_npz_state_dict_reproduces_torch_update_without_torch(tmp_path, nonlinearity):
    sd = random_sd(prefix="rnn.")
    path = tmp_path / "rnn.npz"
    np.savez(path, **sd)
    net = elman_from_torch(path, nonlinearity, prefix=None)
    X = np.random.default_rng(1).standard_normal((4, 25, 3))
    ref = torch_rnn_reference(sd, X, nonlinearity, prefix="rnn.")
    np.testing.assert_allclose(net.states(X), ref, rtol=0, atol=1e-14)
    # the readout fc (the only Linear on N inputs) is found and used by predict
    np.testing.assert_allclose(net.predict(X), ref[:, -1] @ sd["fc.weight"].T + sd["fc.bias"], atol=1e-13)
    # a loaded network is analysed like any other
    res = wd.lyapunov_spectrum(net, X[0], k=2, burn_in=5)
    assert res.k == 2 and not np.any(np.isnan(res.exponents))  # -inf where relu units are off (documented)


def test_no_readout_and_no_bias(tmp_path):
    sd = random_sd(readout=None)
    del sd["bias_ih_l0"], sd["bias_hh_l0"]
    net = elman_from_torch(sd)
    X = np.random.default_rng(2).standard_normal((2, 7, 3))
    np.testing.assert_allclose(net.predict(X), torch_rnn_reference(sd, X, "tanh")[:, -1], atol=1e-14)
    assert net.n_out == 6


@pytest.mark.parametrize("mutate, pattern", [
    (lambda sd: sd.update({"weight_ih_l1": sd["weight_ih_l0"]}), "multi-layer"),
    (lambda sd: sd.update({"weight_ih_l0_reverse": sd["weight_ih_l0"]}), "bidirectional"),
    (lambda sd: sd.pop("weight_hh_l0"), "missing weight_hh_l0"),
    (lambda sd: sd.update({"weight_hh_l0": np.zeros((24, 6))}), "LSTM or GRU"),
    (lambda sd: sd.update({"bias_hh_l0": np.zeros(5)}), "bias_hh_l0 must have shape"),
    (lambda sd: sd.update({"weight_ih_l0": np.full((6, 3), np.nan)}), "NaN"),
])
def test_bad_state_dicts_are_refused_clearly(mutate, pattern):
    sd = random_sd(readout=None)
    mutate(sd)
    with pytest.raises(ValueError, match=pattern):
        elman_from_torch(sd)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="nonlinearity"):
        elman_from_torch(random_sd(), "sigmoid")
    with pytest.raises(TypeError, match="state_dict_or_path"):
        elman_from_torch(42)
    with pytest.raises(FileNotFoundError, match="no such file"):
        elman_from_torch(tmp_path / "missing.pt")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable"):
        elman_from_torch(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="no 'weight_ih_l0'"):
        elman_from_torch({"fc.weight": np.ones((2, 2))})


@pytest.mark.skipif(torch is not None, reason="PyTorch is installed here, so the message shown without it cannot "
                                                "appear (this test checks that message)")
def test_pt_file_without_torch_says_what_to_do(tmp_path):
    p = tmp_path / "rnn.pt"
    p.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ImportError, match="needs PyTorch.*np.savez"):
        read_state_dict(p)


@needs_torch
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_against_torch_rnn_states(tmp_path, nonlinearity):
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 8, nonlinearity=nonlinearity, batch_first=True).double()
    x = torch.randn(4, 30, 3, dtype=torch.float64)
    out, h_n = rnn(x)
    net = elman_from_torch(rnn.state_dict(), nonlinearity)  # tensors that require grad are detached
    np.testing.assert_allclose(net.states(x), out.detach().numpy(), rtol=0, atol=1e-13)
    path = tmp_path / "rnn.pt"
    torch.save(rnn.state_dict(), path)
    net2 = elman_from_torch(path, nonlinearity)
    np.testing.assert_allclose(net2.last_state(x.detach().numpy()), h_n[0].detach().numpy(), atol=1e-13)
    # batch_first=False: the same weights, inputs transposed to (B, T, d)
    rnn_tf = torch.nn.RNN(3, 8, nonlinearity=nonlinearity).double()
    rnn_tf.load_state_dict(rnn.state_dict())
    out_tf, _ = rnn_tf(x.transpose(0, 1))
    np.testing.assert_allclose(net.states(x.transpose(0, 1).detach().numpy().transpose(1, 0, 2)),
                               out_tf.transpose(0, 1).detach().numpy(), atol=1e-13)
