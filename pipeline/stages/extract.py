"""The ``extract`` stage: main text (and title) from HTML with trafilatura.

trafilatura (Barbaresi 2021) is the extractor FineWeb and datatrove use. ``fast=True``
skips its fallback extractors (readability/justext), ≈1.4× faster; where the fast text
covers under ``fallback_below_coverage`` of the page's visible characters (list, product,
forum pages the main extractor misreads), the page is extracted again by ``fallback``
(the full cascade, or resiliparse) (benchmarks/RESULTS.md issue 14). A page is parsed once with lxml; the title is read from that tree before
extraction. ``<script>`` (except JSON-LD, which trafilatura reads), ``<style>``, ``<svg>``
and comments are cut out with one regex before parsing: trafilatura discards them anyway,
and not parsing and pruning them makes extraction ≈10 % faster. After parsing, form controls,
embedded media, ``aside``/``footer`` and ``<nav>`` link menus are removed
(``prune_no_content``): trafilatura discards them too, and its XPath pruning then walks fewer
elements. Each document is bounded
by ``max_html_chars`` and a wall-clock ``timeout_s`` so a pathological page is rejected
with a reason instead of hanging the worker.
"""

from __future__ import annotations

import importlib.util
import signal
import threading
from collections import Counter
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Iterator, Literal

import pyarrow as pa
import regex
from pydantic import Field

from webrefinery.pipeline.core.card import StageCard
from webrefinery.pipeline.core.errors import ConfigError, StageFailure
from webrefinery.pipeline.core.schema import column_values, conform, dump_metadata, metadata_dicts, set_column
from webrefinery.pipeline.core.stage import PROBE_TEXT, Stage, StageConfig, StageResult

if TYPE_CHECKING:
    from lxml.html import HTMLParser, HtmlElement


#: elements with no extractable text, removed before parsing (trafilatura drops them too).
#: Kept: JSON-LD scripts (trafilatura's baseline rescue reads schema.org ``articleBody``/``text``
#: from them: cutting them cost forum pages 0.07 F1, benchmarks/RESULTS.md issue 14) and
#: self-closing ``<svg .../>`` (no end tag: the lazy match would run to the next ``</svg>``).
_NON_TEXT = regex.compile(r"<script\b(?![^>]*application/ld\+json)[^>]*>.*?</script\s*>"
                          r"|<style\b[^>]*>.*?</style\s*>|<svg\b[^>]*(?<!/)>.*?</svg\s*>"
                          r"|<!--.*?-->", regex.DOTALL | regex.IGNORECASE)
#: ``<select>`` lists, cut from the page before resiliparse parses it: its parser (lexbor) takes
#: time quadratic in the options of one list (25,000: 3 s; 100,000: 67 s, which the per-page
#: time limit cannot stop, as a signal cannot interrupt a C call). Option text is never main text.
_SELECT = regex.compile(r"<select\b[^>]*>.*?</select\s*>", regex.DOTALL | regex.IGNORECASE)


#: elements removed from the parsed tree before trafilatura sees it: form controls, embedded
#: media and frames, which trafilatura's cleaning (``MANUALLY_CLEANED``) discards too, and
#: ``aside``/``footer``, which its baseline rescue also discards. Not removed: elements whose
#: text trafilatura's rescue paths can still use (``nav`` except as below, ``noscript``,
#: ``button``, ``label``, ``form``, ``math``): removing those changed its output.
_NO_CONTENT_TAGS = ("aside", "footer", "iframe", "select", "option", "datalist", "input", "textarea",
                    "object", "embed", "video", "audio", "canvas", "map", "link")
#: a ``<nav>`` with fewer visible characters outside its links is a link menu and removed; a
#: nav that holds prose (some templates put the page body in one) is left to trafilatura.
#: Link share as the boilerplate signal: Kohlschütter et al. 2010 ("Boilerplate detection
#: using shallow text features"); 40, 100 and 250 gave the same F1 (benchmarks/RESULTS.md issue 14)
NAV_MAX_OWN_CHARS = 100


def prune_no_content(tree: HtmlElement) -> None:
    """Remove what cannot be main text before trafilatura's XPath pruning walks it: fewer
    elements, ≈6 % less extraction time (tails are kept, as trafilatura's own cleaning does)."""
    from lxml import etree

    etree.strip_elements(tree, *_NO_CONTENT_TAGS, with_tail=False)
    for nav in list(tree.iter("nav")):
        if nav.getparent() is None:
            continue
        links = sum(_visible_chars(a.text_content()) for a in nav.iter("a"))
        if _visible_chars(nav.text_content()) - links < NAV_MAX_OWN_CHARS:
            nav.drop_tree()


class ExtractConfig(StageConfig):
    #: trafilatura (default) or resiliparse's main-content html2text (Bevendorff et al. 2018):
    #: ≈10× faster, lower precision on the Zyte benchmark (benchmarks/RESULTS.md)
    engine: Literal["trafilatura", "resiliparse"] = "trafilatura"
    #: skip trafilatura's fallback extractors (much faster; F1 measured in benchmarks/)
    fast: bool = True
    #: with ``fast``, a page whose fast extraction holds less than ``fallback_below_coverage`` of
    #: the page's visible characters (0 = never) is extracted again by ``fallback``: resiliparse's
    #: main-content html2text (the default: cheaper, and better on forum, list, service and
    #: collection pages, 0.035 F1 worse on product pages) or trafilatura's full cascade.
    #: resiliparse keeps comment blocks on pages that declare themselves discussion threads.
    #: Thresholds chosen on WCXB and confirmed on Readability's pages: 0.3 for ``resiliparse``,
    #: 0.1 for ``full`` (re-runs 14 % of WCXB pages, 1 % of Readability's) (benchmarks/RESULTS.md issue 14)
    fallback: Literal["full", "resiliparse"] = "resiliparse"
    fallback_below_coverage: float = Field(0.3, ge=0, le=1)
    favor_precision: bool = False
    favor_recall: bool = False
    #: keep reader comments; thread pages keep their posts either way (trafilatura's thread
    #: detection; ``is_discussion`` for resiliparse)
    include_comments: bool = False
    include_tables: bool = True
    #: put the page title on the first line of ``text`` when it is not already there
    include_title: bool = True
    max_html_chars: int = Field(3_000_000, ge=1000)
    timeout_s: float = Field(10.0, gt=0)
    #: documents with fewer extracted characters are rejected as ``no_text``
    min_chars: int = Field(1, ge=0)


#: schema.org ``DiscussionForumPosting`` as a JSON-LD ``@type`` (alone or in a list) or a
#: microdata ``itemtype``: the page is a discussion thread, whose "comments" are its posts.
#: The same seed trafilatura 2.3 uses to keep thread posts (``core._forum_thread_page``).
_DISCUSSION = regex.compile(r'"@type"\s*:\s*(?:"DiscussionForumPosting"|\[[^\]]*"DiscussionForumPosting")'
                            r'|itemtype\s*=\s*["\']https?://schema\.org/DiscussionForumPosting')


def is_discussion(html: str) -> bool:
    """True when the page declares itself a discussion-forum thread (schema.org markup)."""
    return "DiscussionForumPosting" in html and _DISCUSSION.search(html) is not None


def _visible_chars(text: str | None) -> int:
    """Characters other than whitespace (markup indentation must not count as page text)."""
    return len("".join(text.split())) if text else 0


class ExtractTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ExtractTimeout after ``seconds`` (SIGALRM; a no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise ExtractTimeout()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Extract(Stage):
    name = "extract"
    card = StageCard(notes={
        "funnel": "Characters are counted on the document body: the raw HTML until `extract` has run, the "
                  "extracted text after it.",
        "limitations": "Main-text extraction (trafilatura) sometimes keeps navigation or cookie text and "
                       "sometimes drops real content such as comments, tables or short pages."})
    Config = ExtractConfig
    #: rows without ``html`` (already-extracted JSONL/Parquet) pass through untouched
    requires = ()
    probe = {"html": ["<html><head><title>Library budget</title></head><body><article><p>"
                      + PROBE_TEXT + "</p></article></body></html>"], "url": ["https://example.org/a"]}

    @property
    def backend(self) -> str:  # type: ignore[override]
        return self.config.engine

    def self_test(self) -> StageResult | None:
        """The probe page must also yield text: an engine that extracts nothing is broken."""
        result = super().self_test()
        if result is not None and result.kept.num_rows == 0:
            reason = result.rejected.column("reason")[0].as_py() if result.rejected is not None else "?"
            raise StageFailure(f"extract (start-up self-test): {self.config.engine} extracted no text from a "
                               f"plain article page ({reason}). Fix: check the engine's installation "
                               "(pip install -c requirements.lock -e .)")
        return result

    def check(self) -> None:
        cfg = self.config
        if importlib.util.find_spec(cfg.engine) is None:
            raise ConfigError(f"extract.engine: {cfg.engine} is not installed; "
                              f"`pip install {cfg.engine}` or set extract.engine: trafilatura")
        uses_resiliparse = cfg.fast and cfg.fallback_below_coverage and cfg.fallback == "resiliparse"
        if uses_resiliparse and importlib.util.find_spec("resiliparse") is None:
            raise ConfigError("extract.fallback: resiliparse is not installed; reinstall from the lock "
                              "(pip install -c requirements.lock -e .) or set extract.fallback: full")

    def extract_one(self, html: str, url: str | None) -> tuple[str | None, str | None]:
        """(text, title) of one page; text is None when nothing was extracted."""
        text, title = (self._resiliparse if self.config.engine == "resiliparse" else self._trafilatura)(html, url)
        if self.config.include_title and title and text and text.partition("\n")[0].strip() != title:
            text = f"{title}\n{text}"
        return text, title

    def _resiliparse(self, html: str, url: str | None) -> tuple[str | None, str | None]:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(_SELECT.sub("", html))
        text = extract_plain_text(tree, main_content=True, alt_texts=False,
                                  comments=self.config.include_comments or is_discussion(html))
        return text or None, (tree.title or "").strip() or None

    @cached_property
    def _parser(self) -> HTMLParser:
        """trafilatura's HTML parser with its element classes looked up in C: lxml.html's own
        lookup (Python; ``FormElement``, ``InputElement``…, which trafilatura never uses) ran
        ≈3,000 times a page, 6 % of extraction time (benchmarks/RESULTS.md issue 14)."""
        from lxml.etree import ElementDefaultClassLookup
        from lxml.html import HtmlElement
        from trafilatura.utils import HTML_PARSER

        parser = HTML_PARSER.copy()
        parser.set_element_class_lookup(ElementDefaultClassLookup(element=HtmlElement))
        return parser

    def _parse(self, html: str) -> HtmlElement | None:
        """The page's tree, or None when it is not HTML: the steps of trafilatura's ``load_html``
        for a str (repair, parse, bytes when lxml refuses the str, reject a non-HTML fragment),
        written out here because ``load_html`` has no parser argument."""
        from lxml.etree import LxmlError
        from lxml.html import fromstring
        from trafilatura.utils import is_dubious_html, repair_faulty_html

        beginning = html[:50].lower()
        html = repair_faulty_html(html, beginning)
        tree = None
        try:
            tree = fromstring(html, parser=self._parser)
        except ValueError:  # a str with an XML encoding declaration: lxml wants bytes
            pass
        except LxmlError:
            return None
        if tree is None or len(tree) < 1:
            try:
                tree = fromstring(html.encode("utf-8", "surrogatepass"), parser=self._parser)
            except LxmlError:
                return None
        return None if is_dubious_html(beginning) and len(tree) < 2 else tree

    def _trafilatura(self, html: str, url: str | None) -> tuple[str | None, str | None]:
        from trafilatura.metadata import extract_title

        cfg = self.config
        stripped = _NON_TEXT.sub("", html)
        tree = self._parse(stripped)  # parsed once: the title is read before extraction prunes it
        if tree is None:
            return None, None
        title = extract_title(tree)
        body = tree.find(".//body")
        page_chars = _visible_chars(body.text_content()) if body is not None else 0
        prune_no_content(tree)
        text = self._bare_extraction(tree, url, cfg.fast)
        if cfg.fast and _visible_chars(text) < cfg.fallback_below_coverage * page_chars:
            # an empty result stands: fast text that little and no main content found is boilerplate
            if cfg.fallback == "resiliparse":
                text = self._resiliparse(html, url)[0]
            else:  # extraction prunes the tree in place: the full cascade gets a fresh parse
                tree = self._parse(stripped)
                prune_no_content(tree)
                text = self._bare_extraction(tree, url, fast=False)
        return text, title

    def _bare_extraction(self, tree: HtmlElement, url: str | None, fast: bool) -> str | None:
        """trafilatura's main text of a parsed page (the tree is modified)."""
        from trafilatura import bare_extraction

        cfg = self.config
        doc = bare_extraction(
            tree, url=url, fast=fast, favor_precision=cfg.favor_precision,
            favor_recall=cfg.favor_recall, include_comments=cfg.include_comments,
            include_tables=cfg.include_tables, with_metadata=False)
        return doc.text if doc is not None else None

    def process(self, table: pa.Table) -> StageResult:
        if "html" not in table.column_names:
            return StageResult(table)
        cfg = self.config
        counters: Counter = Counter()
        urls = column_values(table, "url")
        metas = metadata_dicts(table)
        texts, reasons = [], []
        for i, html in enumerate(table.column("html").to_pylist()):
            text, reason = None, None
            if not html or not html.strip():
                reason = "empty"
            elif len(html) > cfg.max_html_chars:
                reason = "too_large"
            else:
                try:
                    with time_limit(cfg.timeout_s):
                        text, title = self.extract_one(html, urls[i])
                    if title:
                        metas[i]["title"] = title
                except ExtractTimeout:
                    reason = "timeout"
                except RecursionError:
                    reason = "too_deep"
                if reason is None and (not text or len(text.strip()) < max(1, cfg.min_chars)):
                    reason = "no_text"
            texts.append(text)
            reasons.append(reason)
        out = set_column(table, "text", pa.array(texts, pa.string()))
        out = set_column(out, "metadata", dump_metadata(metas))
        out = conform(out.drop_columns(["html"]))
        return self.split(out, reasons, counters)
