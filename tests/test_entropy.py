"""Token entropy from raw logits: hand-computed cases, padding, and extreme magnitudes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.models.entropy import entropy_from_logits

INF = math.inf


@pytest.mark.parametrize("k", [1, 2, 3, 10, 32_000])
def test_uniform_over_k_tokens_is_ln_k(k: int) -> None:
    assert entropy_from_logits([0.25] * k) == pytest.approx(math.log(k), abs=1e-12)


def test_one_token_far_ahead_of_the_rest_is_zero() -> None:
    assert entropy_from_logits([0.0, 1000.0, 0.0, -5.0]) == pytest.approx(0.0, abs=1e-12)


def test_one_hot_with_everything_else_masked_is_zero() -> None:
    assert entropy_from_logits([-INF, 3.0, -INF]) == 0.0


def test_two_tokens_with_known_probabilities() -> None:
    # softmax([ln 3, 0]) = [3/4, 1/4]; H = -(3/4 ln 3/4 + 1/4 ln 1/4)
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert entropy_from_logits([math.log(3.0), 0.0]) == pytest.approx(expected, abs=1e-12)


def test_minus_inf_and_nan_padding_are_ignored() -> None:
    padded = [1.0, 2.0, 3.0] + [-INF] * 29 + [math.nan] * 3
    assert entropy_from_logits(padded) == pytest.approx(entropy_from_logits([1.0, 2.0, 3.0]))


def test_huge_logits_do_not_overflow() -> None:
    assert entropy_from_logits([1e300, 1e300]) == pytest.approx(math.log(2))
    assert entropy_from_logits([1e308, 1e308, -1e308]) == pytest.approx(math.log(2))
    assert entropy_from_logits([-1e300, -1e300, -1e300]) == pytest.approx(math.log(3))


def test_shifting_every_logit_changes_nothing() -> None:
    row = [0.3, -1.2, 2.5, 0.0]
    assert entropy_from_logits([x + 12345.0 for x in row]) == pytest.approx(
        entropy_from_logits(row), abs=1e-9
    )


def test_plus_inf_logits_share_the_certainty() -> None:
    assert entropy_from_logits([INF, 0.0, 5.0]) == 0.0
    assert entropy_from_logits([INF, INF, 0.0]) == pytest.approx(math.log(2))


def test_a_row_that_is_all_padding_is_an_error() -> None:
    with pytest.raises(ValueError, match="all padding"):
        entropy_from_logits([-INF, math.nan])


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=64))
def test_entropy_is_between_zero_and_ln_k(row: list[float]) -> None:
    entropy = entropy_from_logits(row)
    assert 0.0 <= entropy <= math.log(len(row))
