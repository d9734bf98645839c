"""The command line's value types: each parses one option's text, or says what is wrong."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = [
    "count",
    "days",
    "hours",
    "int_at_least",
    "number",
    "positive_hours",
    "positive_int",
    "seconds",
    "token_id",
    "wait_seconds",
]


def int_at_least(low: int, high: int = 10**9) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def number(*, high: float, positive: bool = False) -> Callable[[str], float]:
    """A finite float, at least 0 (above 0 when ``positive``) and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(
                f"must be {'above' if positive else 'at least'} 0, got {text}"
            )
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = int_at_least(1)
count = int_at_least(0)
token_id = int_at_least(1, 2**63 - 1)
#: Day counts (thresholds, expiries): up to 100 years, so dates never overflow.
days = number(high=36500.0)
hours = number(high=36500.0 * 24)
positive_hours = number(high=36500.0 * 24, positive=True)
seconds = number(high=86400.0, positive=True)
wait_seconds = number(high=7 * 86400.0)
