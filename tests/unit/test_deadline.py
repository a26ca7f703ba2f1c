"""A request's deadline: the server's default, or the `X-Request-Timeout` header capped by the server's maximum."""

from __future__ import annotations

import pytest

from layout.decode import InputError
from serve.config import DeadlineConfig
from serve.ingress import request_deadline

CONFIG = DeadlineConfig(default_s=60, max_s=300)


def test_no_header_means_the_default():
    assert request_deadline(None, CONFIG) == 60


def test_a_header_asks_for_less_or_more_up_to_the_maximum():
    assert request_deadline("2.5", CONFIG) == 2.5
    assert request_deadline("1000", CONFIG) == 300


@pytest.mark.parametrize("value", ["", "soon", "0", "-1", "nan", "inf"])
def test_anything_but_a_positive_number_is_refused(value):
    with pytest.raises(InputError, match="X-Request-Timeout"):
        request_deadline(value, CONFIG)


def test_a_default_above_the_maximum_is_a_config_error():
    with pytest.raises(ValueError, match="exceeds"):
        DeadlineConfig(default_s=900, max_s=300)
