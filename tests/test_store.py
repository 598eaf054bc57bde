"""wcrnn_dyn.store: one JSON convention for non-finite numbers, round trips, and the deprecated io alias."""
import importlib
import json
import math
import sys
import warnings

import numpy as np
import pytest

import wcrnn_dyn as wd
from wcrnn_dyn import store
from wcrnn_dyn import training as tr


def _strict_loads(text):
    """json.loads that refuses the non-standard NaN / Infinity tokens."""
    def bad(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=bad)


def _same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and type(a) is type(b)


def test_to_from_jsonable_round_trip():
    obj = {"a": float("nan"), "b": [1.5, float("inf"), -float("inf")], "c": {"d": 2, "e": "text"}}
    js = store.to_jsonable(obj)
    assert js == {"a": "nan", "b": [1.5, "inf", "-inf"], "c": {"d": 2, "e": "text"}}
    assert _same(store.from_jsonable(_strict_loads(json.dumps(js))), obj)
    np_obj = {"x": np.float32(np.nan), "y": np.array([1.0, np.inf]), "z": np.int64(3), "t": (np.bool_(True),)}
    assert store.to_jsonable(np_obj) == {"x": "nan", "y": [1.0, "inf"], "z": 3, "t": [True]}


def test_write_json_is_standard_json_and_reads_back(tmp_path):
    obj = {"metrics": {"loss": float("nan"), "le": np.array([0.1, -np.inf])}, "n": np.int32(4)}
    path = store.write_json(tmp_path / "r.json", obj)
    doc = _strict_loads(path.read_text())
    assert doc == {"metrics": {"loss": "nan", "le": [0.1, "-inf"]}, "n": 4}
    back = store.from_jsonable(store.read_json(path))
    assert math.isnan(back["metrics"]["loss"]) and back["metrics"]["le"] == [0.1, -math.inf]


def test_from_jsonable_reads_the_old_nan_tokens():
    old = json.loads('{"a": NaN, "b": [Infinity, -Infinity, 1.0]}')  # what training checkpoints used to hold
    back = store.from_jsonable(old)
    assert math.isnan(back["a"]) and back["b"] == [math.inf, -math.inf, 1.0]


def test_io_is_a_deprecated_alias_of_store():
    sys.modules.pop("wcrnn_dyn.io", None)
    with pytest.warns(DeprecationWarning, match="wcrnn_dyn.store"):
        mod = importlib.import_module("wcrnn_dyn.io")
    assert mod.write_json is store.write_json and mod.to_jsonable is store.to_jsonable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert wd.io.read_results is store.read_results
    assert "io" not in wd.__all__ and "store" in wd.__all__


def _checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 5, 1)), rng.standard_normal((8, 1))
    wd.train(wd.WCRNN(1, 4, 1, seed=0), X, y, steps=2, batch_size=4, seed=0, checkpoint_dir=tmp_path,
             checkpoint_every_steps=1)
    return tmp_path / tr.CHECKPOINT_NAME


def test_checkpoint_meta_is_standard_json_and_old_checkpoints_still_load(tmp_path):
    path = _checkpoint(tmp_path)
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    meta = _strict_loads(str(files["meta"]))        # no NaN / Infinity tokens in the new format
    ref = tr.load_checkpoint(path)["meta"]
    # the same checkpoint in the old format (NaN / Infinity tokens, e.g. an infinite best metric)
    old = store.from_jsonable(meta)
    old["best_metric"] = float("inf")
    files["meta"] = np.array(json.dumps(old))
    assert "Infinity" in str(files["meta"])
    np.savez(path, **files)
    back = tr.load_checkpoint(path)["meta"]
    assert back["best_metric"] == math.inf
    assert back["step"] == ref["step"] and back["rng_state"] == ref["rng_state"]
