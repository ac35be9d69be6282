"""A board's layout (geometry of its themed groups and cards) and its renderings.

- `layout_build`: groups and cards placed on a 1200 px wide canvas in two columns (goals and
  milestones left, next steps and interests right); text is wrapped with the real advance widths of
  the font the renderer uses (Pillow's FreeType metrics of DejaVu Sans), overlong text ends in "…".
  The layout is plain JSON, stored on the board; the SVG and the HTML page are both drawn from it.
- `svg_render`: the SVG built with drawsvg (elements and attributes, escaped by the library), then
  parsed back as a check that it is well-formed XML.
- `png_render`: the SVG rasterised by resvg (resvg-py: a self-contained wheel, no system library),
  at the layout's size.
- `html_render`: a responsive HTML page (CSS grid) from the same layout (templates/boards/board.html).

`personal` (the viewer may see personality text) matters only to the HTML page: `personal_note`s of
cards are shown there to the member alone; the SVG and the PNG never draw them.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET

import drawsvg as draw
from django.template.loader import render_to_string
from PIL import ImageFont

WIDTH = 1200
MARGIN = 32
GAP = 24
COLUMN = (WIDTH - 2 * MARGIN - GAP) // 2
PAD = 20
FONT_FAMILY = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
HEADER = 128
IMAGE = 56
THEMES = {
    "goals": {"title": "What I'm aiming for", "color": "#6c5ce7", "tint": "#efedfd"},
    "milestones": {"title": "What I've achieved", "color": "#e17055", "tint": "#fdf0ec"},
    "next": {"title": "My next steps", "color": "#0984e3", "tint": "#e8f3fc"},
    "interests": {"title": "What drives me", "color": "#00a884", "tint": "#e6f7f3"},
}
COLUMNS = (("goals", "milestones"), ("next", "interests"))
#: characters XML 1.0 does not allow (control characters but tab and newlines, U+FFFE, U+FFFF): a goal typed
#: with one would otherwise make the SVG unparsable
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@functools.cache
def _font(size: int, bold: bool):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:  # no DejaVu installed: an estimate (DejaVu's average advance is ~0.6 em)
        return None


def text_width(text: str, size: int, *, bold: bool = False) -> float:
    font = _font(size, bold)
    return font.getlength(text) if font is not None else 0.6 * size * len(text)


def wrap(text: str, size: int, width: float, *, bold: bool = False, max_lines: int = 2) -> list[str]:
    """`text` in lines no wider than `width` px, at most `max_lines`, the last one ending in "…" when cut."""
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if text_width(candidate, size, bold=bold) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while text_width(line, size, bold=bold) > width:  # one word wider than the line: break it
            cut = len(line) - 1
            while cut > 1 and text_width(line[:cut], size, bold=bold) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width(last + "…", size, bold=bold) > width:
            last = last[:-1].rstrip()
        lines = [*lines[: max_lines - 1], last + "…"]
    return lines


def _cards(key: str, inputs) -> list[dict]:
    if key == "goals":
        cards = []
        for goal in inputs.goals:
            details = []
            if goal["target_date"]:
                details.append(f"by {goal['target_date']}")
            if goal["targets"]:
                done = sum(1 for target in goal["targets"] if target["done"])
                details.append(
                    f"{done} of {len(goal['targets'])} done: " + ", ".join(t["title"] for t in goal["targets"])
                )
            cards.append({"kind": "goal", "title": goal["text"], "detail": " · ".join(details)})
        return cards
    if key == "milestones":
        m = inputs.milestones
        stats = [
            f"{m['completed']} completed" if m.get("completed") else None,
            f"{m['streak_days']}-day streak" if m.get("streak_days") else None,
            f"best streak {m['longest_streak_days']} days" if m.get("longest_streak_days", 0) > 1 else None,
            f"{m['hours']:g} h of learning" if m.get("hours") else None,
        ]
        cards = [{"kind": "stat", "title": " · ".join(s for s in stats if s), "detail": ""}] if any(stats) else []
        cards += [
            {
                "kind": "milestone",
                "title": row["title"],
                "detail": f"Completed on {row['completed_on']}",
                "item": row["id"],
            }
            for row in m.get("recent", [])
        ]
        return cards
    if key == "next":
        return [
            {
                "kind": "item",
                "title": item["title"],
                "detail": item["reason"],
                "item": item["id"],
                "personal_note": item["personal_note"],
                "image": item.get("image"),
            }
            for item in inputs.next_items
        ]
    return [{"kind": "interest", "title": value, "detail": ""} for value in inputs.interests]


def _place_card(card: dict, x: int, y: int, width: int) -> int:
    """Sets the card's geometry and wrapped lines; returns its height."""
    with_image = card["kind"] == "item"
    text_x = 16 + (IMAGE + 14 if with_image else 0)
    text_width_px = width - text_x - 16
    card["title_lines"] = wrap(card["title"], 16, text_width_px, bold=True, max_lines=2)
    card["detail_lines"] = wrap(card["detail"], 13, text_width_px, max_lines=2) if card["detail"] else []
    height = 14 + 20 * len(card["title_lines"]) + 17 * len(card["detail_lines"]) + 12
    if with_image:
        height = max(height, IMAGE + 24)
        card["placeholder"] = (card["title"][:1] or "?").upper()
    card.update({"x": x, "y": y, "w": width, "h": height, "text_x": text_x})
    return height


def _place_chips(cards: list[dict], x: int, y: int, width: int) -> int:
    cx, cy = x, y
    for card in cards:
        label = wrap(card["title"], 14, width - 24, max_lines=1)[0]
        chip_width = int(text_width(label, 14)) + 24
        if cx > x and cx + chip_width > x + width:
            cx, cy = x, cy + 38
        card.update({"x": cx, "y": cy, "w": chip_width, "h": 30, "title_lines": [label], "detail_lines": []})
        cx += chip_width + 8
    return (cy + 30 - y) if cards else 0


def layout_build(inputs, captions: dict, *, subtitle: str) -> dict:
    """The board as JSON: title, subtitle, size and groups with their placed cards (module docstring)."""
    groups, bottoms = [], []
    for column, keys in enumerate(COLUMNS):
        x, y = MARGIN + column * (COLUMN + GAP), HEADER
        for key in keys:
            theme = THEMES[key]
            caption_lines = wrap(captions[key], 15, COLUMN - 2 * PAD, max_lines=3)
            cards = _cards(key, inputs)
            inner_y = y + PAD + 30 + 20 * len(caption_lines) + 12
            if key == "interests":
                inner_y += _place_chips(cards, x + PAD, inner_y, COLUMN - 2 * PAD) + (10 if cards else 0)
            else:
                for card in cards:
                    inner_y += _place_card(card, x + PAD, inner_y, COLUMN - 2 * PAD) + 10
            height = max(inner_y - y + PAD - 10, 110)
            groups.append(
                {
                    "key": key,
                    "title": theme["title"],
                    "caption": captions[key],
                    "caption_lines": caption_lines,
                    "color": theme["color"],
                    "tint": theme["tint"],
                    "x": x,
                    "y": y,
                    "w": COLUMN,
                    "h": height,
                    "cards": cards,
                }
            )
            y += height + GAP
        bottoms.append(y)
    return {
        "title": captions["title"],
        "subtitle": subtitle,
        "width": WIDTH,
        "height": max(bottoms) - GAP + MARGIN + 20,
        "groups": groups,
    }


# --------------------------------------------------------------------------- SVG and PNG


def _text(lines: list[str], x: float, y: float, size: int, line_height: int, **attrs) -> list[draw.Text]:
    return [
        draw.Text(NOT_XML.sub("", line), size, x, y + index * line_height, font_family=FONT_FAMILY, **attrs)
        for index, line in enumerate(lines)
    ]


def _card_svg(card: dict, group: dict) -> list:
    x, y, w, h = card["x"], card["y"], card["w"], card["h"]
    if card["kind"] == "interest":
        return [
            draw.Rectangle(x, y, w, h, rx=15, fill=group["color"]),
            *_text(card["title_lines"], x + 12, y + 20, 14, 18, fill="#ffffff"),
        ]
    out = [draw.Rectangle(x, y, w, h, rx=10, fill="#ffffff", stroke=group["tint"], stroke_width=2)]
    if card["kind"] == "item":
        ix, iy = x + 12, y + 12
        if card.get("image"):
            clip = draw.ClipPath()
            clip.append(draw.Rectangle(ix, iy, IMAGE, IMAGE, rx=8))
            out.append(
                draw.Image(
                    ix, iy, IMAGE, IMAGE, path=card["image"], preserveAspectRatio="xMidYMid slice", clip_path=clip
                )
            )
        else:  # placeholder: the theme's tint with the title's initial
            out.append(draw.Rectangle(ix, iy, IMAGE, IMAGE, rx=8, fill=group["tint"]))
            out.extend(
                _text(
                    [card["placeholder"]],
                    ix + IMAGE / 2,
                    iy + 37,
                    24,
                    24,
                    fill=group["color"],
                    font_weight="bold",
                    text_anchor="middle",
                )
            )
    tx = x + card["text_x"]
    out.extend(_text(card["title_lines"], tx, y + 30, 16, 20, fill="#1e1e2e", font_weight="bold"))
    detail_y = y + 30 + 20 * len(card["title_lines"]) - 2
    out.extend(_text(card["detail_lines"], tx, detail_y, 13, 17, fill="#5a5a6e"))
    return out


def svg_render(layout: dict) -> str:
    """The board as a standalone SVG document (drawsvg), checked to parse."""
    width, height = layout["width"], layout["height"]
    drawing = draw.Drawing(width, height)
    drawing.append(draw.Rectangle(0, 0, width, height, fill="#f6f6fb"))
    drawing.append(draw.Rectangle(0, 0, width, HEADER - 24, fill="#1e1e2e"))
    drawing.extend(_text([layout["title"]], MARGIN, 58, 32, 36, fill="#ffffff", font_weight="bold"))
    drawing.extend(_text([layout["subtitle"]], MARGIN, 88, 15, 18, fill="#c8c8dc"))
    for group in layout["groups"]:
        x, y = group["x"], group["y"]
        drawing.append(draw.Rectangle(x, y, group["w"], group["h"], rx=16, fill=group["tint"]))
        drawing.append(draw.Rectangle(x, y + 18, 6, 28, rx=3, fill=group["color"]))
        drawing.extend(_text([group["title"]], x + PAD, y + PAD + 22, 22, 26, fill=group["color"], font_weight="bold"))
        drawing.extend(
            _text(group["caption_lines"], x + PAD, y + PAD + 48, 15, 20, fill="#3c3c50", font_style="italic")
        )
        for card in group["cards"]:
            drawing.extend(_card_svg(card, group))
    drawing.extend(_text(["Made with Beacon"], width - MARGIN, height - 16, 12, 14, fill="#8a8aa0", text_anchor="end"))
    svg = drawing.as_svg()
    ET.fromstring(svg.encode())  # well-formed, or ParseError here rather than a broken file later
    return svg


def png_render(svg: str, *, width: int, height: int) -> bytes:
    """The SVG rasterised by resvg at width x height."""
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg, width=width, height=height, background="#f6f6fb"))


def html_render(layout: dict, *, personal: bool, png_url: str | None = None) -> str:
    """The responsive HTML page of the board; personality notes only when `personal`."""
    return render_to_string("boards/board.html", {"layout": layout, "personal": personal, "png_url": png_url})
