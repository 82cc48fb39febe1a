"""The HTML report: the PR comment's Markdown rendered by markdown-it-py, raw HTML allow-listed."""

from __future__ import annotations

from html.parser import HTMLParser

from deployforge.render.html import render_body, render_html

COMMENT = """<!-- deployforge:comment workflow=jenkins env=dev -->
### ❌ DeployForge plan · `dev`: failed (policy)

| Stage | | Result |
|---|---|---|
| Plan | i | 1 to create |

**Destructive changes**

- `-` **delete** `aws_s3_bucket.logs`

<details><summary>Plan: 1 change</summary>

```diff
- name: <old>
+ name: new
```

</details>

<sub>[build](https://ci.example.com/job/app/3/) · commit `0123456789ab`</sub>
"""


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def _tags(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def test_the_comment_markdown_renders_to_its_html_structure():
    page = render_html(COMMENT, title="DeployForge plan · dev")
    parsed = _tags(page)
    assert parsed.tags[:4] == ["html", "head", "meta", "title"]
    assert "<title>DeployForge plan · dev</title>" in page
    for tag in ("h3", "table", "th", "td", "ul", "li", "details", "summary", "pre", "sub", "a"):
        assert tag in parsed.tags, tag
    assert "<td>1 to create</td>" in page
    assert '<a href="https://ci.example.com/job/app/3/">build</a>' in page
    assert parsed.comments == [" deployforge:comment workflow=jenkins env=dev "]
    assert "&lt;old&gt;" in page  # code is escaped
    assert "script" not in parsed.tags and "http" not in "".join(t for t in parsed.tags if t == "link")


def test_raw_html_outside_the_allow_list_is_shown_as_text():
    body = render_body("hello <script>alert(1)</script> <img src=x onerror=alert(1)> <details open>x</details>\n")
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<details open>" in body
    block = render_body("<div onclick=alert(1)>\n\n<summary>ok</summary>\n")
    assert "<div" not in block and "&lt;div onclick=alert(1)&gt;" in block
    assert "<summary>ok</summary>" in block


def test_page_is_self_contained():
    page = render_html("# hi\n")
    assert "<style>" in page and "<script" not in page and "src=" not in page and "href=" not in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
