"""The public API documents itself: every function has a Google-style
docstring, and every option of init(), @remote, .options() and @method is
explained where help() shows it (and typed where an editor completes it)."""
import inspect
import typing

import pytest

import miniray
from miniray._private import worker
from miniray._private.ray_option_utils import ACTOR_OPTIONS, METHOD_OPTIONS, TASK_OPTIONS

PUBLIC_FUNCTIONS = [getattr(miniray, n) for n in miniray.__all__
                    if inspect.isfunction(getattr(miniray, n))]


@pytest.mark.parametrize("fn", PUBLIC_FUNCTIONS, ids=lambda f: f.__name__)
def test_every_public_function_has_a_docstring_with_its_arguments(fn):
    doc = inspect.getdoc(fn)
    assert doc and len(doc.splitlines()[0]) > 10, f"{fn.__name__} has no summary line"
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not p.name.startswith("_")]
    if params and fn is not miniray.remote:
        assert "Args:" in doc, f"{fn.__name__}'s docstring has no Args section"
        for p in params:
            assert f"{p.name}:" in doc, f"{fn.__name__}'s docstring does not explain {p.name}"


def _documented(doc, name):
    return f"{name}:" in doc or f"{name}," in doc or f" {name}" in doc


def test_init_documents_every_option_it_accepts():
    doc = inspect.getdoc(miniray.init)
    params = [n for n in inspect.signature(miniray.init).parameters if n != "kwargs"]
    for name in params + sorted(worker._KNOWN_IGNORED_INIT_OPTIONS):
        assert _documented(doc, name), f"init() does not document {name}"
    assert "Returns:" in doc and "Raises:" in doc


def test_remote_documents_and_types_every_option():
    doc = inspect.getdoc(miniray.remote)
    for name in sorted(TASK_OPTIONS | ACTOR_OPTIONS):
        assert _documented(doc, name), f"remote() does not document {name}"
    # The keyword-only overload lists the same options, so editors complete
    # them and type checkers flag a misspelt one.
    keyword_overload = typing.get_overloads(miniray.remote)[-1]
    typed = set(inspect.signature(keyword_overload).parameters)
    assert typed == TASK_OPTIONS | ACTOR_OPTIONS


def test_method_documents_every_option():
    doc = inspect.getdoc(miniray.method)
    for name in sorted(METHOD_OPTIONS):
        assert _documented(doc, name), f"method() does not document {name}"


def test_options_point_to_the_documented_list():
    @miniray.remote
    def f():
        return 1

    @miniray.remote
    class A:
        pass

    for options in (f.options, A.options):
        doc = inspect.getdoc(options)
        assert "see remote()" in doc and "Raises:" in doc
