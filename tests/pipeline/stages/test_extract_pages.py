"""Extraction on small real pages (issue 14): posts, descriptions, code blocks and Chinese body
text are kept; navigation, footers and related-link lists are dropped."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pyarrow as pa
import pytest

from webrefinery.pipeline.io.charset import decode_html
from webrefinery.pipeline.stages.extract import Extract, ExtractConfig

from conftest import ROOT, SHARED

DATA = ROOT / "tests" / "data" / "extract"
META = json.loads((DATA / "pages.json").read_text(encoding="utf-8"))
WCXB = SHARED / "testdata" / "extraction_multi" / "wcxb"


def extract_bytes(payload: bytes, url: str | None, **config) -> str:
    """Our read-stage decoding, then the extract stage on a one-row batch."""
    html = decode_html(payload)[0]
    kept = Extract(ExtractConfig(**config)).process(pa.table({"id": ["p"], "url": [url], "html": [html]})).kept
    assert kept.num_rows == 1, "the page was rejected"
    return kept.column("text")[0].as_py()


def extract_fixture(name: str, **config) -> str:
    raw = (DATA / name).read_bytes()
    return extract_bytes(lzma.decompress(raw) if name.endswith(".xz") else raw, META[name].get("url"), **config)


def assert_snippets(text: str, meta: dict) -> None:
    missing = [s for s in meta["with"] if s not in text]
    present = [s for s in meta["without"] if s in text]
    assert not missing, f"content lost: {missing}"
    assert not present, f"boilerplate kept: {present}"


@pytest.mark.parametrize("config", [{}, {"fast": False}], ids=["default", "full-cascade"])
def test_forum_thread_keeps_question_and_answers(config):
    name = "forum_stackexchange_cooking.html.xz"
    text = extract_fixture(name, **config)
    assert_snippets(text, META[name])
    # the question and at least three separate answers
    for post in ("I'm just starting a catering service", "The most important thing is to check everything",
                 "Make labels for the food", "Even if they say that the tables are wipe-clean"):
        assert post in text
    assert "Hot Network Questions" not in text


def test_docs_page_keeps_code_blocks_and_drops_sidebar():
    name = "docs_python_json.html.xz"
    text = extract_fixture(name)
    assert_snippets(text, META[name])
    assert ">>> json.dumps(['foo', {'bar': ('baz', None, 1.0, 2)}])" in text
    assert '\'["foo", {"bar": ["baz", null, 1.0, 2]}]\'' in text


def test_chinese_news_page_from_gbk_bytes_keeps_body_drops_boilerplate():
    name = "zh_news_gb2312_label_gbk_bytes.html"
    raw = (DATA / name).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the fixture really is legacy-encoded
    text = extract_fixture(name, include_title=False)
    reference = META[name]["reference"]
    assert reference in text.replace("\n", "")
    for boilerplate in ("当前位置", "相关阅读", "热门推荐", "网友评论", "版权所有", "ICP备", "登录", "上一篇"):
        assert boilerplate not in text, boilerplate
    assert "\ufffd" not in text


def test_title_is_configurable():
    name = "zh_news_gb2312_label_gbk_bytes.html"
    title = META[name]["title"]
    # the body text itself begins with the title's words: only a first line of its own is the title
    assert extract_fixture(name, include_title=True).partition("\n")[0] == title
    assert extract_fixture(name, include_title=False).partition("\n")[0] != title


@pytest.mark.skipif(not WCXB.exists(), reason="needs ../shared/testdata/extraction_multi (no openly licensed "
                                              "product page could be kept in the repo)")
def test_product_page_keeps_description():
    record = next(r for r in map(json.loads, open(WCXB / "pages.jsonl", encoding="utf-8")) if r["id"] == "wcxb-0610")
    text = extract_bytes(lzma.open(WCXB / record["html_file"]).read(), record["url"])
    assert_snippets(text, record)
    assert "Handmade stoneware." in text


def test_pre_parse_strip_keeps_json_ld_and_text_after_self_closing_svg():
    from webrefinery.pipeline.stages.extract import _NON_TEXT

    html = ('<head><script>var a = "<p>x</p>";</script><script type="application/ld+json">{"text": "post"}</script>'
            '<style>p {}</style></head><body><svg class="icon"/><p>kept text</p><svg><path/></svg><!-- c --></body>')
    out = _NON_TEXT.sub("", html)
    assert '{"text": "post"}' in out and "<p>kept text</p>" in out
    assert "var a" not in out and "p {}" not in out and "<path/>" not in out and "<!--" not in out


def test_low_coverage_falls_back_to_the_full_cascade():
    """fallback_below_coverage=1 re-extracts every page with the fallback: the text is fast=False's."""
    name = "forum_stackexchange_cooking.html.xz"
    always = extract_fixture(name, fallback="full", fallback_below_coverage=1.0, include_title=False)
    assert always == extract_fixture(name, fast=False, include_title=False)
    assert always != extract_fixture(name, fallback="full", fallback_below_coverage=0.0, include_title=False)


def test_low_coverage_falls_back_to_resiliparse():
    name = "forum_stackexchange_cooking.html.xz"
    always = extract_fixture(name, fallback="resiliparse", fallback_below_coverage=1.0, include_title=False)
    assert always == extract_fixture(name, engine="resiliparse", include_title=False)
    assert always != extract_fixture(name, fallback="resiliparse", fallback_below_coverage=0.0, include_title=False)


def test_discussion_pages_are_recognised_by_their_schema_org_type():
    from webrefinery.pipeline.stages.extract import is_discussion

    assert is_discussion('<script type="application/ld+json">{"@type": "DiscussionForumPosting"}</script>')
    assert is_discussion('<script type="application/ld+json">{"@type": ["Thing", "DiscussionForumPosting"]}</script>')
    assert is_discussion('<div itemscope itemtype="https://schema.org/DiscussionForumPosting">')
    assert not is_discussion("<p>A DiscussionForumPosting is a schema.org type.</p>")
    assert not is_discussion('<script type="application/ld+json">{"@type": "NewsArticle"}</script>')


def test_prune_no_content_drops_link_menus_and_controls_keeps_prose_and_tails():
    from lxml import etree
    from lxml.html import fromstring

    from webrefinery.pipeline.stages.extract import NAV_MAX_OWN_CHARS, prune_no_content

    prose = "The river rose overnight and the ferry stopped running until the water fell again. " * 2
    assert len(prose) > NAV_MAX_OWN_CHARS
    tree = fromstring(f'<html><body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>tail one'
                      f'<nav><p>{prose}</p></nav><form><select><option>Belgium</option></select>'
                      f'<input value="q">tail two</form><footer>Contact us</footer><p>body</p></body></html>')
    prune_no_content(tree)
    html = etree.tostring(tree, encoding="unicode")
    assert "Home" not in html and "Belgium" not in html and "Contact us" not in html and "<input" not in html
    assert prose.strip() in html, "a nav holding prose is left to trafilatura"
    assert "tail one" in html and "tail two" in html and "<form>" in html and "<p>body</p>" in html


def test_text_inside_a_nav_element_is_still_extracted():
    """Some templates put the page body in a ``<nav>``: trafilatura's rescue still finds it."""
    prose = ("Our bakery opened in 1987 on the corner of Mill Street. Every loaf is shaped by hand, proofed "
             "overnight and baked in a stone oven before the shop opens at seven. ") * 3
    html = (f'<html><head><title>About</title></head><body><nav><a href="/">Home</a><a href="/shop">Shop</a>'
            f'</nav><nav><div>{prose}</div></nav></body></html>')
    text, _ = Extract(ExtractConfig(include_title=False)).extract_one(html, "https://example.org/about")
    assert "Every loaf is shaped by hand" in text
    assert "Shop" not in text


@pytest.mark.parametrize("html", [
    '<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>',
    "<!DOCTYPE html>\n<html><body><p>x</p><p>y</p></body></html>",
    "just text, no markup",
    "<p>a</p><p>b</p>",
    "<html/>\n<body><p>a</p></body>",
    "\x00\x01<html><body><p>t</p></body></html>",
])
def test_parse_gives_trafilaturas_tree_with_plain_element_classes(html):
    from lxml import etree
    from lxml.html import HtmlElement
    from trafilatura.utils import load_html

    ours, theirs = Extract(ExtractConfig())._parse(html), load_html(html)
    assert (ours is None) == (theirs is None)
    if ours is not None:
        assert etree.tostring(ours) == etree.tostring(theirs)
        assert {type(e) for e in ours.iter()} == {HtmlElement}


def test_select_lists_are_cut_before_resiliparse_parses_the_page():
    """lexbor's time grows with the square of one list's options (100,000: about a minute,
    which no per-page time limit can interrupt): resiliparse never sees ``<select>`` lists."""
    from webrefinery.pipeline.stages.extract import _SELECT

    html = '<p>a</p><SELECT name="c"><option>Belgium<option>Chile</SELECT><p>b</p><select></select>'
    assert _SELECT.sub("", html) == "<p>a</p><p>b</p>"
    prose = "The ferry runs every hour from the north pier until the last boat at ten in the evening. " * 4
    page = (f"<html><body><form><select>{'<option>Country</option>' * 30_000}</select></form>"
            f"<article><p>{prose}</p></article></body></html>")
    text, _ = Extract(ExtractConfig(engine="resiliparse")).extract_one(page, None)
    assert "The ferry runs every hour" in text and "Country" not in text
