"""Charts drawn on the server as inline SVG: no JavaScript, no CDN. Each chart names
itself to screen readers (<title>, <desc>) and each day carries its figures as a
<title> (a tooltip on hover)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import ceil

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 960, 320
LEFT, RIGHT, TOP, BOTTOM = 88, 64, 44, 34  # room for the axes' labels and the legend
TICKS = 4  # gridlines above zero
BAR_COLOUR = "#e0313e"  # the storefront's accent (static/css/store.css)
LINE_COLOUR = "#2f6fed"  # its focus blue: readable on light and dark backgrounds


@dataclass(frozen=True)
class Series:
    """One series of whole numbers, named in the legend and on its axis, each value
    written by `formatted` ("₩12,000", "3")."""

    name: str
    values: Sequence[int]
    formatted: Callable[[int], str] = str


def nice_top(peak: int, ticks: int = TICKS) -> int:
    """The axis' top: `ticks` equal whole steps of a round size (1, 1.5, 2, 2.5, 3, 4,
    5, 6 or 8 x 10^n) covering `peak`; at least 1 a step, so an empty chart still has
    an axis."""
    raw = max(peak, 1) / ticks
    magnitude = 10 ** (len(str(ceil(raw))) - 1)
    factors = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if magnitude >= 10 else (1, 2, 3, 4, 5, 6, 8, 10)
    step = next(int(f * magnitude) for f in factors if f * magnitude >= raw)
    return step * ticks


def bars_and_line(
    *,
    labels: Sequence[str],
    bars: Series,
    line: Series,
    title: str,
    description: str,
    dom_id: str = "chart",
) -> SafeString:
    """An SVG of `bars` (left axis) and `line` (right axis) over the `labels` (days,
    oldest first); about ten labels are written under the axis, every one in the
    tooltips."""
    count = len(labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    bar_top, line_top = nice_top(max(bars.values, default=0)), nice_top(max(line.values, default=0))

    def y(value: int, top: int) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            'viewBox="0 0 {} {}" aria-labelledby="{}-title {}-desc">',
            WIDTH,
            HEIGHT,
            dom_id,
            dom_id,
        ),
        format_html('<title id="{}-title">{}</title>', dom_id, title),
        format_html('<desc id="{}-desc">{}</desc>', dom_id, description),
        SafeString('<g class="chart-axes" fill="currentColor" font-size="12">'),
    ]
    # gridlines with the bars' scale on the left and the line's on the right
    for tick in range(TICKS + 1):
        at = round(y(tick, TICKS), 1)
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" '
                'stroke-opacity="{}"/>'
                '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
                '<text x="{}" y="{}" dominant-baseline="middle">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                at,
                at,
                "0.5" if tick == 0 else "0.15",
                LEFT - 8,
                at,
                bars.formatted(bar_top * tick // TICKS),
                WIDTH - RIGHT + 8,
                at,
                line.formatted(line_top * tick // TICKS),
            )
        )
    every = ceil(count / 10) or 1
    for index, label in enumerate(labels):
        if (count - 1 - index) % every == 0:  # the last day is always labelled
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    round(LEFT + (index + 0.5) * slot, 1),
                    TOP + plot_h + 18,
                    label,
                )
            )
    middle = round(TOP + plot_h / 2, 1)
    parts += [
        format_html(
            '<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>',
            middle,
            bars.name,
        ),
        format_html(
            '<text transform="translate({} {}) rotate(90)" text-anchor="middle">{}</text>',
            WIDTH - 14,
            middle,
            line.name,
        ),
        # the legend
        format_html(
            '<rect x="{}" y="12" width="14" height="14" fill="{}"/>'
            '<text x="{}" y="23">{}</text>'
            '<line x1="{}" x2="{}" y1="19" y2="19" stroke="{}" stroke-width="2.5"/>'
            '<text x="{}" y="23">{}</text>',
            LEFT,
            BAR_COLOUR,
            LEFT + 20,
            bars.name,
            LEFT + 200,
            LEFT + 224,
            LINE_COLOUR,
            LEFT + 230,
            line.name,
        ),
        SafeString("</g>"),
        SafeString('<g class="chart-bars">'),
    ]
    for index, (label, bar, point) in enumerate(zip(labels, bars.values, line.values, strict=True)):
        x = round(LEFT + index * slot, 1)
        parts.append(
            format_html(
                "<g><title>{}: {} {}, {} {}</title>"
                '<rect x="{}" y="{}" width="{}" height="{}" fill="transparent"/>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/></g>',
                label,
                bars.name,
                bars.formatted(bar),
                line.name,
                line.formatted(point),
                x,
                TOP,
                round(slot, 1),
                plot_h,
                round(x + slot * 0.15, 1),
                round(y(bar, bar_top), 1),
                round(slot * 0.7, 1),
                round(TOP + plot_h - y(bar, bar_top), 1),
                BAR_COLOUR,
            )
        )
    centres = [
        (round(LEFT + (index + 0.5) * slot, 1), round(y(point, line_top), 1))
        for index, point in enumerate(line.values)
    ]
    parts += [
        SafeString("</g>"),
        format_html(
            '<g class="chart-line"><polyline fill="none" stroke="{}" stroke-width="2.5" '
            'points="{}"/>',
            LINE_COLOUR,
            " ".join(f"{cx},{cy}" for cx, cy in centres),
        ),
        *(
            format_html('<circle cx="{}" cy="{}" r="3" fill="{}"/>', cx, cy, LINE_COLOUR)
            for cx, cy in centres
        ),
        SafeString("</g></svg>"),
    ]
    return format_html_join("", "{}", ((part,) for part in parts))
