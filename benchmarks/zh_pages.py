"""Chinese test pages with known main text: ``shared/testdata/zh_articles`` texts in page templates.

Chinese HTML with reference text is scarce (4 pages in ``extraction_multi``), so, as its
SOURCE.md suggests, each of the 200 openly licensed texts is wrapped in a realistic page and
encoded the way Chinese sites serve it (GBK or a GB2312 label on GBK bytes, Big5, UTF-8).
The page kind follows the text: multi-speaker transcripts become forum threads (one post per
turn, Discuz!-style markup: author box, floor number, signature, reply links), documentation
becomes a docs page (sidebar tree, breadcrumbs, "edit this page"), the rest news/encyclopedia
articles (header navigation, breadcrumbs, related-article list, hot list, reader comments,
ICP footer). Boilerplate text is drawn from *other* texts' titles and sentences, as real
related-link lists are, so an extractor cannot tell it apart by vocabulary. The reference is
the text alone (speaker labels stay in a post, they are part of the turn); the title is not.

Deterministic for a seed. The templates are ours, not crawled pages: report these figures as
a synthetic set (benchmarks/RESULTS.md), next to the real pages.
"""

from __future__ import annotations

import html as htmlmod
import json
import random
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "zh_articles" / "zh_articles.jsonl"


@dataclass(frozen=True)
class ZhPage:
    id: str
    genre: str  # article | forum | documentation
    lang: str  # zh-Hans | zh-Hant
    charset: str  # the label the page declares
    payload: bytes
    header_charset: str | None  # what the HTTP Content-Type says (None: no charset parameter)
    reference: str
    title: str


def _genre(record: dict) -> str:
    if record["genre"].startswith("interview"):
        return "forum"
    return "documentation" if record["genre"] == "documentation" else "article"


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def _esc(text: str) -> str:
    return htmlmod.escape(text, quote=False)


def _sentences(text: str) -> list[str]:
    out, cur = [], ""
    for ch in text:
        cur += ch
        if ch in "。！？":
            out.append(cur.strip())
            cur = ""
    return [s for s in out if 8 <= len(s) <= 80]


def _links(rng: random.Random, titles: list[str], n: int, href: str) -> str:
    return "".join(f'<li><a href="{href}{rng.randint(1000, 99999)}.html">{_esc(t)}</a></li>'
                   for t in rng.sample(titles, n))


def _header(rng: random.Random, site: str, sections: list[str]) -> str:
    nav = "".join(f'<li><a href="/{i}/">{s}</a></li>' for i, s in enumerate(sections))
    return (f'<div class="top-bar"><a href="/login">登录</a> | <a href="/reg">注册</a> | 设为首页 | 加入收藏</div>'
            f'<div id="header"><div class="logo"><a href="/">{site}</a></div>'
            f'<form class="search"><input name="q" placeholder="请输入关键词"><button>搜索</button></form></div>'
            f'<div class="nav"><ul>{nav}</ul></div>')


def _footer(rng: random.Random, site: str) -> str:
    icp = f"京ICP备{rng.randint(10000000, 99999999)}号-{rng.randint(1, 9)}"
    return (f'<div id="footer"><p><a href="/about">关于我们</a> | <a href="/contact">联系我们</a> | '
            f'<a href="/ads">广告服务</a> | <a href="/jobs">招聘信息</a> | <a href="/map">网站地图</a></p>'
            f'<p>Copyright © 2008-2024 {site} 版权所有 {icp}</p>'
            f'<p>本站部分内容来自网络，如有侵权请联系删除。</p></div>')


def _article(rng: random.Random, rec: dict, titles: list[str], sents: list[str], site: str) -> str:
    body = "".join(f"<p>{_esc(p)}</p>" for p in _paragraphs(rec["text"]))
    date = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    comments = "".join(
        f'<div class="comment-item"><span class="user">网友{rng.randint(100, 9999)}</span>'
        f'<span class="time">{date}</span><p>{_esc(s)}</p><a href="#">回复</a> <a href="#">赞({rng.randint(0, 99)})</a></div>'
        for s in rng.sample(sents, rng.randint(2, 5)))
    layout = rng.randrange(3)
    main = (f'<div class="crumbs">当前位置：<a href="/">首页</a> &gt; <a href="/news/">资讯</a> &gt; 正文</div>'
            f'<h1>{_esc(rec["title"])}</h1><div class="info">来源：{site} 作者：编辑部 发布时间：{date} 浏览：{rng.randint(100, 99999)}次</div>'
            + (f'<div class="content" id="article">{body}</div>' if layout == 0 else
               f'<article><div class="article-content">{body}</div></article>' if layout == 1 else
               f'<div class="left"><table><tr><td class="text">{body}</td></tr></table></div>')
            + f'<div class="share">分享到：微博 微信 QQ空间</div>'
            f'<div class="page-turn">上一篇：<a href="/n/1.html">{_esc(rng.choice(titles))}</a><br>'
            f'下一篇：<a href="/n/2.html">{_esc(rng.choice(titles))}</a></div>'
            f'<div class="related"><h3>相关阅读</h3><ul>{_links(rng, titles, 6, "/news/")}</ul></div>'
            f'<div class="comments"><h3>网友评论</h3>{comments}</div>')
    side = (f'<div class="sidebar"><div class="box"><h3>热门推荐</h3><ol>{_links(rng, titles, 8, "/hot/")}</ol></div>'
            f'<div class="box"><h3>最新文章</h3><ul>{_links(rng, titles, 6, "/new/")}</ul></div></div>')
    return f'<div class="wrap"><div class="main">{main}</div>{side}</div>'


def _forum(rng: random.Random, rec: dict, titles: list[str], sents: list[str], site: str) -> str:
    posts = []
    for floor, para in enumerate(_paragraphs(rec["text"]), 1):
        user = para.split("：", 1)[0][:8] if "：" in para[:12] else f"用户{rng.randint(100, 999)}"
        label = {1: "楼主", 2: "沙发", 3: "板凳"}.get(floor, f"{floor}#")
        sig = f'<div class="sign">{_esc(rng.choice(sents))}</div>' if rng.random() < 0.3 else ""
        posts.append(
            f'<table class="plhin" id="pid{rng.randint(10**6, 10**7)}"><tr><td class="pls"><div class="authi">'
            f'<a href="/space/{rng.randint(1, 9999)}">{_esc(user)}</a></div><p>帖子 {rng.randint(1, 900)} | 积分 {rng.randint(1, 9000)}</p></td>'
            f'<td class="plc"><div class="pi"><em>发表于 2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}</em><strong>{label}</strong></div>'
            f'<div class="pct"><table><tr><td class="t_f" id="postmessage_{rng.randint(10**6, 10**7)}">{_esc(para)}</td></tr></table></div>{sig}'
            f'<div class="po"><a href="#">回复</a> <a href="#">引用</a> <a href="#">举报</a> <a href="#">支持({rng.randint(0, 50)})</a></div>'
            f'</td></tr></table>')
    crumbs = f'<div id="pt" class="bm"><a href="/">{site}</a> › <a href="/forum.php">论坛</a> › <a href="/f/2">综合讨论区</a> › 查看帖子</div>'
    head = (f'<div class="ts"><h1>{_esc(rec["title"])}</h1><span>[复制链接]</span></div>'
            f'<div class="hm">查看: {rng.randint(100, 99999)} | 回复: {len(posts) - 1}</div>')
    side = f'<div class="bm"><h2>热门帖子</h2><ul>{_links(rng, titles, 8, "/thread-")}</ul></div>'
    return (f'{crumbs}<div id="ct" class="wp">{head}<div id="postlist">{"".join(posts)}</div>'
            f'<div class="pgs"><a href="?page=2">下一页</a> 返回列表</div>'
            f'<div id="f_pst"><textarea>快速回复</textarea><button>发表回复</button></div>{side}</div>')


def _docs(rng: random.Random, rec: dict, titles: list[str], sents: list[str], site: str) -> str:
    paras = _paragraphs(rec["text"])
    body = "".join(f"<h2>{_esc(p)}</h2>" if len(p) < 25 and not p.endswith("。") else f"<p>{_esc(p)}</p>" for p in paras)
    toc = "".join(f'<li class="toc-item"><a href="/docs/{i}">{_esc(t)}</a></li>' for i, t in enumerate(rng.sample(titles, 14)))
    return (f'<div class="docs-layout"><nav class="sidebar"><div class="version">版本：v7.5 (LTS)</div><ul class="toc">{toc}</ul></nav>'
            f'<main class="doc-main"><div class="breadcrumb"><a href="/docs">文档</a> / <a href="/docs/guide">使用指南</a></div>'
            f'<h1>{_esc(rec["title"])}</h1><div class="doc-meta">最后更新：2024-05-{rng.randint(1, 28):02d} <a href="#">编辑此页</a> <a href="#">提交反馈</a></div>'
            f'<div class="markdown-body">{body}</div>'
            f'<div class="feedback">文档内容是否有帮助？ <button>是</button> <button>否</button></div>'
            f'<div class="pager"><a href="/docs/prev">上一页：{_esc(rng.choice(titles))}</a> <a href="/docs/next">下一页：{_esc(rng.choice(titles))}</a></div></main>'
            f'<aside class="on-this-page"><h4>本页目录</h4><ul>{_links(rng, titles, 5, "#")}</ul></aside></div>')


_SITES = ["新华资讯网", "东方财经", "华夏科技频道", "百科知识网", "天涯社区", "技术文档中心", "台灣新聞網", "繁體論壇"]
_SECTIONS = ["首页", "新闻", "财经", "科技", "体育", "娱乐", "汽车", "房产", "教育", "论坛"]


def _charset(rng: random.Random, lang: str) -> tuple[str, str, str | None]:
    """(declared label, codec used for the bytes, HTTP header charset) as Chinese sites serve them."""
    if lang == "zh-Hant":
        return rng.choice([("big5", "big5", "big5"), ("big5", "big5", None), ("utf-8", "utf-8", "utf-8")])
    return rng.choice([("gbk", "gbk", "gbk"), ("gb2312", "gbk", None), ("gb2312", "gbk", "gb2312"),
                       ("utf-8", "utf-8", None), ("utf-8", "utf-8", "iso-8859-1")])


def build_pages(seed: int = 14, source: Path = SOURCE) -> list[ZhPage]:
    """All 200 pages, deterministic for ``seed``."""
    records = [json.loads(line) for line in open(source, encoding="utf-8")]
    rng = random.Random(seed)
    pages = []
    for rec in records:
        others = [r for r in records if r["id"] != rec["id"] and r["lang"] == rec["lang"]]
        titles = [r["title"] for r in others]
        sents = [s for r in rng.sample(others, 10) for s in _sentences(r["text"])]
        site = rng.choice(_SITES)
        genre = _genre(rec)
        body = {"article": _article, "forum": _forum, "documentation": _docs}[genre](rng, rec, titles, sents, site)
        label, codec, header = _charset(rng, rec["lang"])
        doc = (f'<!DOCTYPE html><html lang="{rec["lang"]}"><head><meta http-equiv="Content-Type" '
               f'content="text/html; charset={label}"><title>{_esc(rec["title"])}_{site}</title>'
               f'<meta name="keywords" content="{_esc(rec["title"])},{site}">'
               f'<link rel="stylesheet" href="/css/style.css"><script>var _hmt = _hmt || [];</script></head>'
               f'<body>{_header(rng, site, _SECTIONS)}{body}{_footer(rng, site)}</body></html>')
        pages.append(ZhPage(id=f"zh-{rec['id']}", genre=genre, lang=rec["lang"], charset=label,
                            payload=doc.encode(codec, "xmlcharrefreplace"), header_charset=header,
                            reference="\n".join(_paragraphs(rec["text"])), title=rec["title"]))
    return pages
