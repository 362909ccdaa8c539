"""A small top-down page layout on A4 matplotlib figures: headings, wrapped text, tables, chart regions.

Positions are in inches from the page's bottom-left corner. Text widths are measured with the font
itself (not guessed from character counts), so wrapped text and table cells never overrun a column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextToPath

A4 = (8.27, 11.69)  # inches, portrait
LEFT, RIGHT, TOP, BOTTOM = 0.6, 0.6, 0.6, 0.65
WIDTH = A4[0] - LEFT - RIGHT
FONT = "DejaVu Sans"  # ships with matplotlib: the same glyphs on every machine
INK, MUTED, RULE_LINE, HEADER_FILL, STRIPE = "#1f2933", "#616e7c", "#9aa5b1", "#e4e7eb", "#f5f7fa"
# rcParams for every figure of the report: TrueType fonts (text a PDF reader can extract), no
# mathtext (a '$' in a review note is text), one font everywhere.
RC = {
    "pdf.fonttype": 42,
    "text.parse_math": False,
    "font.family": FONT,
    "font.size": 8,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 8,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_PATHS = TextToPath()


@lru_cache(maxsize=16)
def _font(size: float, bold: bool) -> FontProperties:
    return FontProperties(family=FONT, size=size, weight="bold" if bold else "normal")


@lru_cache(maxsize=4096)
def _advance(char: str, size: float, bold: bool) -> float:
    width, _, _ = _PATHS.get_text_width_height_descent(char, _font(size, bold), ismath=False)
    return width / 72


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The width of `text` in inches: the sum of its characters' advances in the report's font.

    Measured per character once and cached (shaping every string was most of the PDF's cost at
    scale); kerning is ignored, which the cell padding absorbs."""
    return sum(_advance(c, size, bold) for c in text)


def fit(text: str, width: float, size: float, bold: bool = False) -> str:
    """`text` cut (with an ellipsis) to `width` inches."""
    if text_width(text, size, bold) <= width:
        return text
    room = width - _advance("…", size, bold)
    used, cut = 0.0, 0
    for cut, c in enumerate(text):  # noqa: B007 - `cut` is the first character that does not fit
        used += _advance(c, size, bold)
        if used > room:
            break
    return text[:cut] + "…"


def wrap(text: str, width: float, size: float, bold: bool = False, max_lines: int | None = None) -> list[str]:
    """`text` broken into lines of at most `width` inches (explicit newlines kept); the last kept line
    ends with an ellipsis when `max_lines` cuts it."""
    space = _advance(" ", size, bold)
    lines: list[str] = []
    cut = False
    for paragraph in str(text).split("\n"):
        line, used = "", 0.0
        for word in paragraph.split(" "):
            w = text_width(word, size, bold)
            if line and used + space + w > width:
                lines.append(line)
                line, used = word, w
            else:
                line, used = (f"{line} {word}", used + space + w) if line else (word, w)
            if max_lines is not None and len(lines) > max_lines:
                cut = True
                break
        if cut:
            break
        lines.append(line)
    lines = [fit(x, width, size, bold) for x in lines]  # a single word longer than the line
    if max_lines is not None and (cut or len(lines) > max_lines):
        lines = lines[:max_lines]
        lines[-1] = lines[-1] if lines[-1].endswith("…") else fit(lines[-1] + " …", width, size, bold)
    return lines


def column_widths(header: Sequence[str], rows: Sequence[Sequence[str]], total: float, size: float) -> list[float]:
    """Natural column widths (widest cell, header included), the widest ones capped so all fit `total`."""
    pad = 0.12
    # Headers wrap onto two lines, so a column need only be as wide as its header's longest word.
    natural = [max((text_width(word, size, bold=True) for word in h.split()), default=0.0) + pad for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widest = max((text_width(part, size) for part in str(cell).split("\n")), default=0.0)
            natural[i] = max(natural[i], widest + pad)
    if sum(natural) <= total:
        spare = total - sum(natural)
        return [w + spare / len(natural) for w in natural]
    # Water-filling: one cap for the wide columns, narrow columns keep their natural width.
    ordered = sorted(natural)
    remaining, count = total, len(ordered)
    cap = total / count
    for w in ordered:
        if w <= remaining / count:
            remaining -= w
            count -= 1
        else:
            cap = remaining / count
            break
    return [min(w, cap) for w in natural]


class Flow:
    """Content laid out top-down; a new page starts whenever the next block does not fit."""

    def __init__(self, save: Callable[[Figure], None], footer: str) -> None:
        self._save = save
        self.footer = footer
        self.fig: Figure | None = None
        self.pages = 0
        self.y = 0.0

    def new_page(self) -> Figure:
        self._flush()
        self.fig = Figure(figsize=A4)
        self.pages += 1
        self.y = A4[1] - TOP
        self.fig.text(LEFT / A4[0], 0.35 / A4[1], self.footer, fontsize=6.5, color=MUTED)
        self.fig.text(1 - RIGHT / A4[0], 0.35 / A4[1], f"page {self.pages}", fontsize=6.5, color=MUTED, ha="right")
        return self.fig

    def _flush(self) -> None:
        if self.fig is not None:
            self._save(self.fig)
            self.fig = None

    def close(self) -> None:
        self._flush()

    def ensure(self, height: float) -> Figure:
        if self.fig is None or self.y - height < BOTTOM:
            self.new_page()
        assert self.fig is not None
        return self.fig

    def space(self, height: float) -> None:
        self.y -= height

    def text(
        self,
        text: str,
        size: float = 8.5,
        bold: bool = False,
        color: str = INK,
        x: float = LEFT,
        width: float = WIDTH,
        gap: float = 0.08,
    ) -> None:
        line_height = size * 1.45 / 72
        for line in wrap(text, width, size, bold):
            fig = self.ensure(line_height)
            fig.text(
                x / A4[0],
                (self.y - line_height * 0.8) / A4[1],
                line,
                fontsize=size,
                weight="bold" if bold else "normal",
                color=color,
            )
            self.y -= line_height
        self.y -= gap

    def heading(self, text: str, size: float = 13) -> None:
        self.ensure(size * 3.5 / 72 + 1.0)  # never strand a heading at the foot of a page
        self.text(text, size=size, bold=True, gap=0.1)

    def region(self, height: float) -> tuple[Figure, float, float]:
        """A block `height` inches tall across the text width: (figure, its bottom, its top)."""
        fig = self.ensure(height)
        top = self.y
        self.y -= height
        return fig, self.y, top

    def table(
        self,
        header: Sequence[str] | None,
        rows: Sequence[Sequence[Any]],
        *,
        size: float = 7.2,
        align: str = "",
        widths: Sequence[float] | None = None,
        max_lines: int = 3,
        tint: Callable[[int], str | None] | None = None,
        x: float = LEFT,
        width: float = WIDTH,
        gap: float = 0.15,
    ) -> None:
        """A table that continues on the next page (header repeated; `header=None`: none) when it runs out of room.

        `align` has one letter per column ('l' or 'r', default 'l'); `tint(i)` may colour row i's text."""
        cells = [[str(c) for c in row] for row in rows]
        widths = list(widths) if widths is not None else column_widths(header or [""] * len(cells[0]), cells, width, size)
        line_height = size * 1.32 / 72
        pad = 0.045

        titles = ["\n".join(wrap(h, w - 0.1, size, bold=True, max_lines=2)) for h, w in zip(header or (), widths, strict=False)]
        header_height = max((t.count("\n") + 1 for t in titles), default=0) * line_height + 2 * pad

        def draw_header() -> None:
            fig = self.ensure(header_height + line_height + 2 * pad)
            if header is None:
                fig.add_artist(_line(x, self.y, width))
                return
            fig.add_artist(_rect(x, self.y - header_height, width, header_height, HEADER_FILL))
            self._cells(fig, titles, widths, align, x, size, True, INK, line_height, pad)
            self.y -= header_height

        draw_header()
        for i, row in enumerate(cells):
            wrapped = [wrap(c, w - 0.1, size, max_lines=max_lines) for c, w in zip(row, widths, strict=True)]
            lines = max(len(w) for w in wrapped)
            height = lines * line_height + 2 * pad
            if self.y - height < BOTTOM:
                self.new_page()
                draw_header()
            fig = self.fig
            assert fig is not None
            if i % 2:
                fig.add_artist(_rect(x, self.y - height, width, height, STRIPE))
            color = (tint(i) if tint else None) or INK
            self._cells(fig, ["\n".join(w) for w in wrapped], widths, align, x, size, False, color, line_height, pad)
            self.y -= height
        fig = self.fig
        assert fig is not None
        fig.add_artist(_line(x, self.y, width))
        self.y -= gap

    def _cells(
        self,
        fig: Figure,
        cells: Sequence[str],
        widths: Sequence[float],
        align: str,
        x: float,
        size: float,
        bold: bool,
        color: str,
        line_height: float,
        pad: float,
    ) -> None:
        left = x
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
            right_aligned = i < len(align) and align[i] == "r"
            for k, line in enumerate(cell.split("\n")):
                base = self.y - pad - (k + 0.8) * line_height
                fig.text(
                    (left + (w - 0.05 if right_aligned else 0.05)) / A4[0],
                    base / A4[1],
                    line,
                    fontsize=size,
                    weight="bold" if bold else "normal",
                    color=color,
                    ha="right" if right_aligned else "left",
                )
            left += w


def _rect(x: float, y: float, w: float, h: float, color: str) -> Rectangle:
    return Rectangle((x / A4[0], y / A4[1]), w / A4[0], h / A4[1], facecolor=color, edgecolor="none", zorder=-1)


def _line(x: float, y: float, w: float) -> Rectangle:
    return Rectangle((x / A4[0], y / A4[1]), w / A4[0], 0.6 / 72 / A4[1], facecolor=RULE_LINE, edgecolor="none")


def axes(fig: Figure, x: float, y: float, w: float, h: float) -> Any:
    """Axes at (x, y) of size (w, h), in inches on the page."""
    return fig.add_axes((x / A4[0], y / A4[1], w / A4[0], h / A4[1]))
