"""A README's Markdown as HTML that is safe to put on a page.

markdown-it-py renders CommonMark (with tables and strikethrough) and escapes raw HTML; nh3
(ammonia) then keeps only harmless tags and attributes and http(s)/mailto links, so neither a
`<script>`, an `onerror=` nor a `javascript:` link survives, whatever the Markdown holds.
"""

from __future__ import annotations

import functools

ALLOWED_TAGS = {"a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
                "i", "img", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "td": {"align"}, "th": {"align"}}


@functools.lru_cache(maxsize=256)  # a README is shown far more often than it changes
def render(text: str) -> str:
    import nh3
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).render(text)
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="nofollow noopener noreferrer")
