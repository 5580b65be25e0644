"""Point labels that never overlap: greedy placement around each point, in display space."""
from __future__ import annotations

from matplotlib.text import Text

# (dx, dy) in points from the point, nearest first; the text grows away from the point
OFFSETS = sorted(((dx, dy) for dx in (8, -8, 30, -30, 70, -70) for dy in (5, -5, 15, -15, 25, -25, 35, -35, 45, -45,
                                                                          55, -55, 65, -65)),
                 key=lambda o: (abs(o[0]) + abs(o[1]), o[0] < 0, o[1] < 0))
GID = "pareto-label:"  # gid of every label: the tests find them by it
MARKER_PX = 9  # half-width of the box a plotted point occupies (the front's ring), pixels at 100 dpi


def _inside(box, outer) -> bool:
    return box.x0 >= outer.x0 and box.x1 <= outer.x1 and box.y0 >= outer.y0 and box.y1 <= outer.y1


def _text_box(ann, renderer):
    """The box of an annotation's text alone, not its leader line."""
    ann.update_positions(renderer)
    return Text.get_window_extent(ann, renderer)


def _marker_boxes(ax, xy: list[tuple[float, float]]):
    from matplotlib.transforms import Bbox

    r = MARKER_PX * ax.figure.dpi / 100
    return [Bbox.from_extents(px - r, py - r, px + r, py + r) for px, py in ax.transData.transform(xy)]


def place_labels(ax, points: list[tuple[str, float, float]], markers: list[tuple[float, float]] = (),
                 fontsize: float = 7) -> list[str]:
    """Label each ``(text, x, y)`` in order at the first offset where it stays inside the axes and overlaps
    no label placed before it nor any of ``markers`` (data points); a label away from its point gets a
    leader line. Returns the texts that found no such place (they are not drawn).

    Call it last: the axes' limits and scales must be final (it draws the figure once to measure).
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    blocked = _marker_boxes(ax, list(markers)) if markers else []
    px_per_pt = fig.dpi / 72
    placed, left_out = [], []
    for text, x, y in points:
        probe = ax.annotate(text, (x, y), fontsize=fontsize)  # measures the text; removed below
        size = _text_box(probe, renderer)
        w, h = size.width, size.height
        probe.remove()
        (px, py), = ax.transData.transform([(x, y)])
        for dx, dy in OFFSETS:
            x0 = px + dx * px_per_pt - (0 if dx > 0 else w)
            y0 = py + dy * px_per_pt - (0 if dy > 0 else h)
            box = Bbox.from_extents(x0, y0, x0 + w, y0 + h).padded(1.5)
            if _inside(box, frame) and not any(box.overlaps(p) for p in placed + blocked):
                lead = {"arrowprops": {"arrowstyle": "-", "lw": 0.5, "color": "0.45", "shrinkA": 0, "shrinkB": 4}} \
                    if abs(dx) + abs(dy) > 20 else {}
                ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                            ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top", gid=GID + text, **lead)
                placed.append(box)
                break
        else:
            left_out.append(text)
    return left_out


def label_boxes(ax) -> dict[str, tuple[float, float, float, float]]:
    """The drawn labels of ``ax`` and their boxes in display pixels (for checks)."""
    renderer = ax.figure.canvas.get_renderer()
    out = {}
    for t in ax.texts:
        gid = t.get_gid() or ""
        if gid.startswith(GID):
            b = _text_box(t, renderer)
            out[gid[len(GID):]] = (b.x0, b.y0, b.x1, b.y1)
    return out
