"""Documentation references resolve: cited doc files exist, cited THEORY.md sections exist, and nothing of the
project cites files outside it (the sibling folder ``../shared`` is not part of the repository).

Pure text checks over the source tree (no package import), so they also catch a reference in a docstring or a
notebook cell that no other test executes.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THEORY = REPO / "docs" / "THEORY.md"

#: Where documentation paths are cited from (the brief of the docs: package, README, docs, notebooks).
DOC_SOURCES = ("wcrnn_dyn", "README.md", "docs", "notebooks")
#: Everything of the project that is text: also tests, benchmarks, examples and recorded results.
PROJECT_SOURCES = DOC_SOURCES + ("tests", "benchmarks", "examples", "results", "pyproject.toml", "setup.cfg")
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".json", ".toml", ".cfg", ".txt", ".rst", ".yml", ".yaml", ".sh", ".ini"}
SKIP_DIRS = {"__pycache__", ".git", ".venv", "build", "dist", ".ipynb_checkpoints", ".pytest_cache"}
MAX_BYTES = 5_000_000

# a path ending in .md: optional ../ or ./ prefix, directories, a file name
MD_PATH = re.compile(r"(?<![\w./-])((?:\.\.?/)*(?:[\w-]+/)*[\w.-]*\w\.md)\b")
# "THEORY.md section 4", "THEORY.md sections 6-7", "THEORY.md sections 2 and 4", "THEORY.md section 4.2";
# quotes and white space between the parts are allowed (a citation split over two string literals)
NUM = r"\d+(?:\.\d+)?"
SECTION_CITE = re.compile(r"THEORY\.md[\s\"'`,]*sections?\s+(" + NUM + r"(?:\s*(?:,|-|and|to|or)\s*" + NUM + r")*)")
# "THEORY.md 4" (a number without the word section) is ambiguous and not allowed
BARE_NUMBER = re.compile(r"THEORY\.md[\"'`]?\s+\d")
ANCHOR_LINK = re.compile(r"THEORY\.md#([\w-]+)")
# a path under the sibling folder shared/ (relative, absolute, or quoted in a docstring)
SHARED_PATH = re.compile(r"(?<![\w-])(?:\.\./|/work/)?shared/([\w.-]+)((?:/[\w.-]+)*)")
# What may be named under ../shared: the data search folder (a run-time location the loaders look in,
# documented in `wcrnn-dyn data --help`, never required) and the optional peer programs the benchmarks run
# side by side (inputs of a measurement, not documentation).
SHARED_ALLOWED = re.compile(r"^(data(/.*)?|peers|peers/[\w.-]+\.py)$")


def _files(sources, suffixes=TEXT_SUFFIXES):
    for src in sources:
        p = REPO / src
        if p.is_file():
            yield p
            continue
        if not p.is_dir():
            continue
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
            for f in sorted(files):
                fp = Path(root) / f
                if fp.suffix in suffixes and fp.stat().st_size <= MAX_BYTES:
                    yield fp


def _read(path):
    return path.read_text(encoding="utf-8", errors="replace")


def _rel(path):
    return path.relative_to(REPO).as_posix()


def _line(text, pos):
    return text.count("\n", 0, pos) + 1


def _repo_basenames():
    names = set()
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        names.update(files)
    return names


def theory_sections(text=None):
    """Section numbers ("4", "4.2", ...) of docs/THEORY.md, from its numbered headings."""
    text = _read(THEORY) if text is None else text
    return {m.group(1) for m in re.finditer(r"^#{2,3}\s+(\d+(?:\.\d+)?)\.?\s", text, flags=re.M)}


def _cited_numbers(spec):
    """Section numbers named by "4", "2 and 4", "6-7", "4.5 and 6.1", "1-3" (a range of whole sections)."""
    out = []
    for part in re.split(r"\s*(?:,|and|or)\s*", spec.strip()):
        m = re.fullmatch(r"(\d+)\s*(?:-|to)\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            out += [str(i) for i in range(lo, hi + 1)] if lo <= hi else [part]
        elif part:
            out.append(part)
    return out


def test_theory_doc_exists_with_numbered_sections_and_anchors():
    assert THEORY.is_file(), "docs/THEORY.md is the project's theory document and must exist"
    text = _read(THEORY)
    secs = theory_sections(text)
    # the top-level sections the code cites by number
    assert {str(i) for i in range(1, 10)} <= secs, sorted(secs)
    # every numbered heading carries a stable anchor id="section-N" / "section-N-M" right before it
    for m in re.finditer(r"^(#{2,3})\s+(\d+(?:\.\d+)?)\.?\s", text, flags=re.M):
        anchor = "section-" + m.group(2).replace(".", "-")
        before = text[:m.start()].rstrip().splitlines()[-1]
        assert before == f'<a id="{anchor}"></a>', f"heading {m.group(2)} lacks its anchor <a id=\"{anchor}\"></a>"
    # subsections are numbered under their section
    for s in secs:
        if "." in s:
            assert s.split(".")[0] in secs, s


def test_theory_section_parser():
    assert _cited_numbers("4") == ["4"]
    assert _cited_numbers("2 and 4") == ["2", "4"]
    assert _cited_numbers("6-7") == ["6", "7"]
    assert _cited_numbers("1-3") == ["1", "2", "3"]
    assert _cited_numbers("4.5 and 6.1") == ["4.5", "6.1"]
    m = SECTION_CITE.search('scale of docs/THEORY.md "\n      "section 4.3 plus')
    assert m and m.group(1) == "4.3"
    assert BARE_NUMBER.search("bound (THEORY.md 4)")
    assert not BARE_NUMBER.search("bound (THEORY.md section 4)")
    sec = theory_sections("## 1. A\n### 1.2 B\n## 10 C\n#### 3.4 not counted\n")
    assert sec == {"1", "1.2", "10"}


def test_cited_theory_sections_exist():
    secs = theory_sections()
    bad = []
    n = 0
    for f in _files(PROJECT_SOURCES):
        if f == THEORY or f == Path(__file__).resolve():
            continue
        text = _read(f)
        for m in SECTION_CITE.finditer(text):
            for num in _cited_numbers(m.group(1)):
                n += 1
                if num not in secs:
                    bad.append(f"{_rel(f)}:{_line(text, m.start())}: section {num} ({m.group(0)!r})")
        for m in BARE_NUMBER.finditer(text):
            bad.append(f"{_rel(f)}:{_line(text, m.start())}: write 'THEORY.md section N', got {m.group(0)!r}")
        for m in ANCHOR_LINK.finditer(text):
            if f'id="{m.group(1)}"' not in _read(THEORY):
                bad.append(f"{_rel(f)}:{_line(text, m.start())}: no anchor #{m.group(1)} in docs/THEORY.md")
    assert n > 20, f"only {n} THEORY.md section citations found; the scan is broken"
    assert not bad, "citations of missing THEORY.md sections:\n" + "\n".join(bad)


def test_cited_doc_files_exist():
    basenames = _repo_basenames()
    bad = []
    n = 0
    for f in _files(DOC_SOURCES):
        text = _read(f)
        for m in MD_PATH.finditer(text):
            path = m.group(1)
            where = f"{_rel(f)}:{_line(text, m.start())}"
            n += 1
            if path.startswith("../") or path.startswith("/"):
                bad.append(f"{where}: {path} lies outside the repository")
            elif "/" not in path:
                # a bare file name (README.md, report.md, section.md): some file of the repository has it
                if path not in basenames:
                    bad.append(f"{where}: {path} is not a file of the repository")
            else:
                top = path.removeprefix("./").split("/")[0]
                if top == "docs" or (REPO / top).is_dir():
                    if not (REPO / path).is_file():
                        bad.append(f"{where}: {path} does not exist")
                # else: an output location written by a command (OUT/report.md, out_dir/report.md)
    assert n > 10, f"only {n} .md citations found; the scan is broken"
    assert not bad, "cited documentation files that do not exist:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", ["THEORY.md", "LYAPUNOV.md", "MEMORY.md", "NUMERICS.md", "PAPER_MAP.md"])
def test_core_docs_present(name):
    assert (REPO / "docs" / name).is_file()


def test_no_citation_of_files_under_shared():
    """No file of the project names a file under ../shared except the data folder the loaders search and the
    benchmark peer programs (see SHARED_ALLOWED); in particular no document there is cited."""
    bad = []
    me = Path(__file__).resolve()
    for f in _files(PROJECT_SOURCES):
        if f == me:
            continue
        text = _read(f)
        for m in SHARED_PATH.finditer(text):
            rest = (m.group(1) + m.group(2)).rstrip(".")
            if not SHARED_ALLOWED.match(rest):
                bad.append(f"{_rel(f)}:{_line(text, m.start())}: {m.group(0)}")
    assert not bad, "files under ../shared are not part of the project; do not cite them:\n" + "\n".join(bad)


def test_shared_rule_catches_documents():
    for cited in ("../shared/docs/API.md", "/work/shared/docs/NOTES.md", "../shared/peers/README.md"):
        m = SHARED_PATH.search(f"see {cited} for details")
        assert m and not SHARED_ALLOWED.match((m.group(1) + m.group(2)).rstrip("."))
    for allowed in ("../shared/data", "../shared/data/cifar10-jpeg-q75.tar.gz", "shared/peers/torch_wcrnn_lyap.py"):
        m = SHARED_PATH.search(f"in {allowed}.")
        assert m and SHARED_ALLOWED.match((m.group(1) + m.group(2)).rstrip("."))


# ----------------------------------------------------------------------------------------------------------
# Names in docs/THEORY.md resolve (a renamed or moved function shows up here, not in a reader's session)
# ----------------------------------------------------------------------------------------------------------

SEARCH_MODULES = ("", "lyapunov", "memory", "spectral", "theory", "residuals", "clv", "models")


def _resolve(dotted):
    """The object ``wcrnn_dyn.<dotted>`` (attributes and submodules), or None."""
    import importlib
    obj, modname = importlib.import_module("wcrnn_dyn"), "wcrnn_dyn"
    for part in dotted.split("."):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            modname = f"{modname}.{part}"
            continue
        try:
            obj = importlib.import_module(f"{modname}.{part}")
            modname = f"{modname}.{part}"
        except ImportError:
            return None
    return obj


def theory_code_names(text=None):
    """Package names in backticks in docs/THEORY.md: dotted names (``theory.exponent_bound``,
    ``wcrnn_dyn.memory``, ``wd.theory.regime(net)``) and calls (``lyapunov_spectrum(net, X)``); other
    libraries' names (scipy, numpy) are left out."""
    text = _read(THEORY) if text is None else text
    names = set()
    for tok in re.findall(r"`([^`\n]+)`", text):
        m = re.fullmatch(r"((?:wd|wcrnn_dyn)\.)?([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(\(.*\))?", tok.strip())
        if not m or "/" in tok:
            continue
        name, call = m.group(2), m.group(3)
        if name.split(".")[0] in ("scipy", "numpy", "np", "docs", "tests"):
            continue
        if m.group(1) or "." in name or call:
            names.add(name)
    return names


def test_theory_code_name_parser():
    got = theory_code_names("`wd.theory.regime(net)` `memory.timescales` `lyapunov_spectrum(net, X)` `burn_in` "
                            "`scipy.signal.welch` `qr=\"auto\"` `wcrnn_dyn.tasks` `docs/MEMORY.md`")
    assert got == {"theory.regime", "memory.timescales", "lyapunov_spectrum", "tasks"}


def test_names_in_theory_doc_exist():
    names = theory_code_names()
    assert len(names) > 20, sorted(names)
    missing = []
    for name in sorted(names):
        if "." in name:
            ok = _resolve(name) is not None
        else:
            ok = any(_resolve(f"{mod}.{name}" if mod else name) is not None for mod in SEARCH_MODULES)
        if not ok:
            missing.append(name)
    assert not missing, f"docs/THEORY.md names functions or modules that do not exist: {missing}"
