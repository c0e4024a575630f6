"""Remove what HTML extraction leaves behind: tags, entities, CSS rules, JavaScript lines.

Extractors (trafilatura, WET) sometimes keep ``<br>``, ``&nbsp;``, inline ``<script>`` or a
stylesheet that was inside the main content. The rules are deliberately narrow so prose
is never touched: a tag must use a real HTML element name (``List<String>`` and ``a<b>c``
survive), and a line is only dropped as code when the *whole line* has the shape of a CSS
rule or a JavaScript statement. C4 (Raffel et al., 2020) drops whole documents containing
``{`` or "javascript"; here we remove the residue and leave dropping to the rule filters.
"""

from __future__ import annotations

import html
import re

#: HTML element names (WHATWG living standard, plus a few obsolete ones seen in crawls)
_ELEMENTS = (
    "a abbr address area article aside audio b base bdi bdo big blockquote body br button canvas "
    "caption center cite code col colgroup data datalist dd del details dfn dialog div dl dt em "
    "embed fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head "
    "header hgroup hr html i iframe img input ins kbd label legend li link main map mark meta "
    "meter nav noscript object ol optgroup option output p param picture pre progress q rp rt "
    "ruby s samp script section select small source span strike strong style sub summary sup svg "
    "table tbody td template textarea tfoot th thead time title tr track tt u ul var video wbr"
).split()

_BLOCKS = re.compile(r"<(script|style|noscript)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<!DOCTYPE[^>]*>", re.I | re.S)
_TAG = re.compile(r"</?(?:%s)(?:\s+[^<>]*?)?\s*/?>" % "|".join(sorted(_ELEMENTS, key=len, reverse=True)), re.I)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

# A whole line that is a CSS rule: ``selector { prop: value; ... }`` or an @-rule.
_CSS_LINE = re.compile(
    r"^[ \t]*(?:@(?:media|import|font-face|keyframes|charset)\b[^\n]*"
    r"|[#.\w][\w \t#.,:>~+*\[\]=\"'()-]*\{[ \t]*(?:[\w-]+[ \t]*:[ \t]*[^;{}\n]+;?[ \t]*)*\})[ \t]*$",
    re.M,
)
# A whole line that is a JavaScript statement: declarations, function headers, calls on
# well-known objects, or lone closing braces.
_JS_LINE = re.compile(
    r"^[ \t]*(?:(?:var|let|const)[ \t]+[\w$]+[ \t]*=[^\n]*;"
    r"|function[ \t]*[\w$]*[ \t]*\([^)\n]*\)[ \t]*\{[^\n]*"
    r"|(?:window|document|jQuery|\$|console|googletag|gtag|_gaq|dataLayer)[ \t]*[.(\[][^\n]*[;{(]"
    r"|[\w$.]+[ \t]*=[ \t]*function[ \t]*\([^\n]*"
    r"|[})\];]{1,4}(?:[ \t]*else[ \t]*\{)?"
    r"|//[ \t]*<!\[CDATA\[|//[ \t]*\]\]>)[ \t]*$",
    re.M,
)


def strip_html(text: str) -> tuple[str, bool]:
    """Remove script/style blocks, comments, tags of real HTML elements and decode entities.

    Returns the new text and whether anything changed. Cheap when there is no ``<``/``&``.
    """
    out = text
    if "<" in out:
        out = _BLOCKS.sub("\n", out)
        out = _COMMENT.sub(" ", out)
        out = _TAG.sub(_tag_space, out)
    if "&" in out and _ENTITY.search(out):
        out = html.unescape(out)
    return out, out != text


def _tag_space(m: re.Match) -> str:
    # Block-level tags separate words/lines; inline ones (b, span, a ...) do not.
    name = m.group(0).lstrip("</").split(None, 1)[0].rstrip("/>").lower()
    if name in {"br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
                "hr", "ul", "ol", "table", "section", "article", "header", "footer", "blockquote"}:
        return "\n"
    return ""


def strip_code_lines(text: str) -> tuple[str, bool]:
    """Drop lines that are entirely a CSS rule or a JavaScript statement."""
    if "{" not in text and ";" not in text and "}" not in text:
        return text, False
    out = _CSS_LINE.sub("", text)
    out = _JS_LINE.sub("", out)
    return out, out != text
