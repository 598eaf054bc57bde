"""Every public callable of the public modules has a numpydoc docstring with a ``Parameters`` section (or says
"no parameters") and, when it returns something, a ``Returns`` (or ``Yields``) section.

Public modules: the modules in ``wcrnn_dyn.__all__`` and every top-level ``wcrnn_dyn.<name>`` module whose name
does not start with "_".  Public names: the module's ``__all__`` (``dir(module)`` for ``wcrnn_dyn.plotting``,
which builds its names lazily; the module's own public functions and classes if it has neither).  For a class:
the class docstring, and every public method and property defined in the class (dunder methods are skipped;
a method without a docstring of its own inherits its base class's, as Sphinx shows it).  Properties need a
docstring only.  "Returns something" is read from the source: a ``return <value>`` other than ``None`` or a
``yield`` in the function's own body.
"""
import ast
import importlib
import inspect
import pkgutil
import re
import textwrap
import warnings

import pytest

import wcrnn_dyn

# Every public module must comply (no module is exempt).


def section(name):
    return re.compile(r"^[ \t]*%s[ \t]*\n[ \t]*-{3,}[ \t]*$" % name, re.M)


PARAMETERS, RETURNS, YIELDS, ATTRIBUTES = (section(n) for n in ("Parameters", "Returns", "Yields", "Attributes"))
NO_PARAMETERS = re.compile(r"no parameters", re.I)


def public_modules():
    mods = {}
    for name in wcrnn_dyn.__all__:
        obj = getattr(wcrnn_dyn, name)
        if inspect.ismodule(obj):
            mods[obj.__name__] = obj
    for info in pkgutil.iter_modules(wcrnn_dyn.__path__):
        if not info.name.startswith("_"):
            full = f"wcrnn_dyn.{info.name}"
            with warnings.catch_warnings():  # a deprecated alias module (io -> store) warns on import
                warnings.simplefilter("ignore", DeprecationWarning)
                mods.setdefault(full, importlib.import_module(full))
    return dict(sorted(mods.items()))


def public_names(mod):
    names = getattr(mod, "__all__", None)
    if names is None and hasattr(mod, "__dir__") and mod.__name__.endswith(".plotting"):
        names = mod.__dir__()
    if names is None:
        names = [n for n, o in vars(mod).items() if not n.startswith("_")
                 and (inspect.isfunction(o) or inspect.isclass(o)) and o.__module__ == mod.__name__]
    return [n for n in names if not n.startswith("_")]


def returns_value(func):
    """True if the function's own body has ``return <value>`` (not None) or ``yield``."""
    try:
        src = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return False
    fn = ast.parse(src).body[0]
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # nested definitions have their own returns
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def takes_parameters(func, bound):
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return True
    return bool(params[1:] if bound and params else params)


def function_problems(func, label, doc, bound=False):
    if not doc or not doc.strip():
        return [f"{label}: no docstring"]
    out = []
    if takes_parameters(func, bound) and not PARAMETERS.search(doc) and not NO_PARAMETERS.search(doc):
        out.append(f"{label}: no Parameters section")
    if returns_value(func) and not RETURNS.search(doc) and not YIELDS.search(doc):
        out.append(f"{label}: no Returns section")
    return out


def inherited_doc(cls, name):
    """The docstring of ``cls.<name>``, or of the nearest base class's ``<name>`` when it has none."""
    for klass in cls.__mro__:
        raw = vars(klass).get(name)
        if raw is None:
            continue
        raw = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        doc = raw.fget.__doc__ if isinstance(raw, property) and raw.fget is not None else raw.__doc__
        if doc and doc.strip():
            return inspect.cleandoc(doc)
    return None


def own_constructor(cls):
    """Whether ``__init__`` comes from the class's own package (not from object, Exception, argparse, ...)."""
    owner = next(k for k in cls.__mro__ if "__init__" in vars(k))
    return owner.__module__.split(".")[0] == cls.__module__.split(".")[0]


def class_problems(cls, label):
    out = []
    doc = inspect.getdoc(cls)
    if not doc or not doc.strip():
        out.append(f"{label}: no class docstring")
    elif (own_constructor(cls) and takes_parameters(cls.__init__, True)
          and not (PARAMETERS.search(doc) or ATTRIBUTES.search(doc) or NO_PARAMETERS.search(doc))):
        out.append(f"{label}: no Parameters (or Attributes) section for the constructor")
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(raw, property):
            if not inherited_doc(cls, name):
                out.append(f"{label}.{name}: property without a docstring")
            continue
        if isinstance(raw, staticmethod):
            func, bound = raw.__func__, False
        elif isinstance(raw, classmethod):
            func, bound = raw.__func__, True
        elif inspect.isfunction(raw):
            func, bound = raw, True
        else:
            continue
        doc = inherited_doc(cls, name)  # the base class's docstring if the method has none
        out += function_problems(func, f"{label}.{name}", doc, bound)
    return out


def module_problems(mod):
    out = []
    for name in public_names(mod):
        obj = getattr(mod, name, None)
        label = f"{mod.__name__}.{name}"
        if inspect.isclass(obj) and (obj.__module__ or "").startswith("wcrnn_dyn"):
            out += class_problems(obj, label)
        elif inspect.isfunction(obj) and (obj.__module__ or "").startswith("wcrnn_dyn"):
            out += function_problems(obj, label, inspect.getdoc(obj))
    return out


MODULES = public_modules()


def test_the_check_sees_the_public_modules():
    for name in ("wcrnn_dyn.residuals", "wcrnn_dyn.spectral", "wcrnn_dyn.memory", "wcrnn_dyn.tasks",
                 "wcrnn_dyn.plotting", "wcrnn_dyn.build", "wcrnn_dyn.threads", "wcrnn_dyn.clv",
                 "wcrnn_dyn.flossing", "wcrnn_dyn.interop"):
        assert name in MODULES, name
    assert "plot_lyapunov_spectrum" in public_names(MODULES["wcrnn_dyn.plotting"])


def test_the_check_catches_missing_sections():
    def documented(x, y=1):
        """Sum.

        Parameters
        ----------
        x, y : float

        Returns
        -------
        float
        """
        return x + y

    def undocumented_returns(x):
        """Sum, but no sections."""
        def inner():
            return 1
        return x + inner()

    def returns_nothing():
        """No parameters; returns nothing."""
        def inner():
            return 1
        inner()
        return None

    def generator(n):
        """Counts.

        Parameters
        ----------
        n : int
        """
        yield from range(n)

    assert function_problems(documented, "f", inspect.getdoc(documented)) == []
    assert function_problems(undocumented_returns, "g", inspect.getdoc(undocumented_returns)) == \
        ["g: no Parameters section", "g: no Returns section"]
    assert function_problems(returns_nothing, "h", inspect.getdoc(returns_nothing)) == []
    assert function_problems(generator, "k", inspect.getdoc(generator)) == ["k: no Returns section"]
    assert function_problems(generator, "k", None) == ["k: no docstring"]

    class Base:
        """A base.

        Parameters
        ----------
        a : int
        """

        def __init__(self, a):
            self.a = a

        def __repr__(self):  # dunder: skipped
            return "Base"

        def value(self):
            """The value.

            Returns
            -------
            int
            """
            return self.a

        @property
        def p(self):
            return 1

    class Child(Base):
        """A child.

        Attributes
        ----------
        a : int
        """

        def value(self):  # inherits Base.value's docstring
            return 2 * self.a

    class Error(ValueError):
        """An exception: its constructor is Exception's, no Parameters section needed."""

    class Undocumented(Base):
        """No sections although the constructor takes ``b``."""

        def __init__(self, b):
            super().__init__(b)

    assert class_problems(Base, "Base") == ["Base.p: property without a docstring"]
    assert class_problems(Child, "Child") == []
    assert class_problems(Error, "Error") == []
    assert class_problems(Undocumented, "U") == ["U: no Parameters (or Attributes) section for the constructor"]


@pytest.mark.parametrize("modname", list(MODULES))
def test_public_callables_have_numpydoc_sections(modname):
    problems = module_problems(MODULES[modname])
    assert not problems, f"{len(problems)} docstring problem(s) in {modname}:\n" + "\n".join(problems)
