"""Pin the public API: a change to ``rbtokens.__all__`` is a deliberate one."""

from __future__ import annotations

import rbtokens
from rbtokens import errors


def test_all_names_exist() -> None:
    for name in rbtokens.__all__:
        assert hasattr(rbtokens, name), name


def test_every_error_is_under_the_root() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, rbtokens.RBTokensError), name


def test_error_tree_is_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert name in doc, f"{name} is missing from the tree in errors.py"
