"""One number format in the storefront: won, points and plain counts grouped alike."""

import pytest
from django.utils import translation

from vodstore.formatting import number, points, won


@pytest.mark.parametrize("language", ["en", "ko"])
def test_won_points_and_counts_group_their_thousands_the_same_way(language):
    with translation.override(language):
        assert number(1234567) == "1,234,567"
        assert won(12000) == "₩12,000"
        assert won(-1500) == "-₩1,500"
        assert points(5000).startswith("5,000")
        assert number(999) == "999"


def test_what_is_no_number_renders_empty():
    assert number(None) == number("abc") == won("") == points(object()) == ""
