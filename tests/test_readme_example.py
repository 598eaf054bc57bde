"""The README's "Ten lines" run and print what their comments say (issue 12)."""
import contextlib
import io
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_ten_lines_print_what_the_comments_say():
    text = (ROOT / "README.md").read_text()
    block = text[text.index("## Ten lines"):]
    code = block[block.index("```python") + len("```python"):]
    code = code[:code.index("```")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README-ten-lines", "exec"), {})
    lines = out.getvalue().splitlines()
    nums = [np.array([float(v) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", ln)]) for ln in lines]
    measured, predicted = nums[0][:3], nums[0][3:]
    np.testing.assert_allclose(predicted, np.log(0.99), rtol=1e-6)                   # "log 0.99 = -0.0101"
    np.testing.assert_allclose(measured, -0.0094, atol=5e-5)                          # "-0.0094"
    assert np.all(np.abs(measured - np.log(0.99)) < 0.001)                            # "O(eps) apart"
    np.testing.assert_allclose(nums[1], 106, atol=1.0)                                # "~ 106 steps"
    assert lines[2].startswith("History(epochs=5, steps=80, train_loss=0.1689")    # the comment, verbatim
