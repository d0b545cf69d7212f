"""A small HTML report: sections of text, tables and PNG images in one folder.

The demo (``python -m minicnn demo``) fills one ``Report``: every command
family adds a section through its ``demo_section(cnn, report, args)``.
"""
import html
import re
import time
from pathlib import Path

import numpy as np

from .data import save_image

__all__ = ["Report"]


class Report:
    """Collects sections and writes ``index.html`` plus PNG files into ``folder``.

    ``intro``: paragraphs (strings) shown under the title, before a table of
    contents of the sections.  ``log``: a callable given one line per section
    as it starts (e.g. ``print``), so a long report does not look hung.
    """

    def __init__(self, folder, title="minicnn demo", intro=(), log=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.intro = list(intro)
        self.log = log
        self._parts = []
        self._names = set()
        self._toc = []
        self._t0 = time.perf_counter()

    def section(self, title, text=None):
        """Start a section with a heading (listed in the table of contents) and an
        optional paragraph."""
        anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
        while anchor in {a for a, _ in self._toc}:
            anchor += "-2"
        self._toc.append((anchor, title))
        if self.log is not None:
            self.log(f"[{time.perf_counter() - self._t0:6.1f} s] {title}")
        self._parts.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>')
        if text:
            self._parts.append(f"<p>{html.escape(text)}</p>")

    def text(self, text):
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, rows, header=None):
        """rows: list of sequences of cells (converted with str)."""
        out = ["<table>"]
        if header:
            out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                       + "</tr>")
        for row in rows:
            out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                       + "</tr>")
        out.append("</table>")
        self._parts.append("\n".join(out))

    #: widest image saved (pixels): the page is 1100 px wide, so wider pictures are
    #: scaled down (Pillow, area-averaging) instead of making the reader scroll.
    max_width = 1060

    def image(self, name, img, caption=None, width=None):
        """Save uint8 ``img`` as ``name`` (a unique .png file name) and show it with
        ``caption`` (required: a sentence saying what the picture shows).  An image
        wider than :attr:`max_width` is scaled down first; ``width`` sets the
        displayed width in pixels (e.g. to enlarge a small picture)."""
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"caption is required for report image {name!r}: say what the "
                             "picture shows")
        if not name.endswith(".png"):
            name += ".png"
        if name in self._names:
            raise ValueError(f"image name {name!r} is already used in this report")
        self._names.add(name)
        img = np.asarray(img)
        if img.ndim >= 2 and img.shape[1] > self.max_width:
            from PIL import Image
            h = max(1, round(img.shape[0] * self.max_width / img.shape[1]))
            img = np.asarray(Image.fromarray(img).resize((self.max_width, h), Image.BOX))
        save_image(self.folder / name, img)
        style = f' style="width:{int(width)}px"' if width else ""
        self._parts.append(f'<figure><img src="{html.escape(name)}"{style} '
                           f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
                           "</figcaption></figure>")
        return self.folder / name

    def write(self):
        """Write index.html and return its path."""
        intro = "".join(f"<p>{html.escape(p)}</p>" for p in self.intro)
        toc = ""
        if self._toc:
            toc = ("<nav><h2>Contents</h2><ol>" + "".join(
                f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t in self._toc)
                + "</ol></nav>")
        body = intro + toc + "\n".join(self._parts)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
            "figure{display:inline-block;margin:6px;vertical-align:top;max-width:100%}"
            "img{max-width:100%;height:auto}"
            # the caption wraps at the image's width (width 0, min-width 100%)
            "figcaption{font-size:12px;width:0;min-width:100%}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            f"</style></head><body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>")
        path = self.folder / "index.html"
        path.write_text(page)
        return path
