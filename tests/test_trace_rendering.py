"""A reasoning trace on a lead's page: rendered in bounded time whatever a pod sends
(the largest trace is 1 MB), shown whole, and never making the lead's browser fetch
anything by itself."""

import time

import pytest

from promotions.rendering import MARKDOWN_CHARS, markdown_html
from tests.factories import PromotionFactory

# Inputs that make a Markdown parser superlinear: Python-Markdown took 45 s for 16 KB of
# the first (it scans from every `[` to the end of its paragraph).
PATHOLOGICAL = {
    "nested brackets": "[" * 500_000 + "]" * 500_000,
    "brackets on every line": ("[" * 30 + "\n") * 33_000,
    "unclosed links": "[a](" * 250_000,
    "unclosed images": "![a](" * 200_000,
    "unclosed references": "[a][" * 250_000,
    "emphasis and code": "*_[`" * 250_000,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_a_one_megabyte_pathological_trace_renders_in_well_under_a_second(name):
    trace = PATHOLOGICAL[name]
    started = time.monotonic()
    html = markdown_html(trace)
    took = time.monotonic() - started
    # A generous bound on a shared 2-core machine; the figure is about 0.3 s.
    assert took < 5, f"{name}: {took:.1f} s"
    assert 'class="pg-trace-rest"' in html


def test_past_the_markdown_part_the_whole_trace_is_shown_as_escaped_plain_text():
    head = "## Why\n\n" + "Plain words.\n" * (MARKDOWN_CHARS // 12)
    tail = "**not bold** <script>alert(1)</script>\nthe last line\n"
    html = markdown_html(head + tail)
    assert "<h2>Why</h2>" in html
    rest = html.split('<pre class="pg-trace-rest">', 1)[1]
    assert "**not bold** &lt;script&gt;alert(1)&lt;/script&gt;\nthe last line" in rest
    assert "<script>" not in html and "<strong>" not in rest


def test_a_short_trace_is_all_markdown():
    html = markdown_html("## Why\n\n- **one**\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h2>Why</h2>" in html and "<strong>one</strong>" in html and "<td>1</td>" in html
    assert "pg-trace-rest" not in html


def test_images_become_links_so_the_browser_fetches_nothing():
    html = markdown_html("See ![the chart](https://tracker.example/pixel.png?lead=1) and ![x][ref]\n\n[ref]: /x.png\n")
    assert "<img" not in html
    assert '<a href="https://tracker.example/pixel.png?lead=1"' in html and ">the chart</a>" in html


@pytest.mark.timeout(60)
def test_the_admin_page_of_a_promotion_with_a_megabyte_trace_answers_fast(admin_client, db):
    promotion = PromotionFactory(reasoning_trace=PATHOLOGICAL["nested brackets"])
    started = time.monotonic()
    response = admin_client.get(f"/admin/promotions/promotion/{promotion.pk}/change/")
    assert response.status_code == 200
    assert time.monotonic() - started < 10
    assert 'class="pg-trace-rest"' in response.content.decode()
