"""The few SVG elements the course's drawings are made of (coursetools/coursemap.py,
coursetools/diagrams.py), each as a string of markup; numbers as ``:g`` writes them.

An arrow head is a marker defined once per drawing (``opening``) and named by its id;
two drawings inline on one page need different ids.
"""
from html import escape

INK, MUTED, PAPER = "#2b2f3a", "#7a808c", "#ffffff"


def opening(width, height, title, arrow_id, scalable=False):
    """The <svg> element up to its first child: its size, its title, its arrow head.
    A scalable one fills the width it is given, up to its own."""
    size = (f'width="100%" style="max-width:{width}px;font-family:sans-serif"' if scalable
            else f'width="{width}" height="{height}" style="font-family:sans-serif"')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" {size} '
            f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<defs><marker id="{arrow_id}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0L10,5L0,10z" fill="{INK}"/></marker></defs>')


def rect(x, y, w, h, fill, stroke, width=1.2, dashed=False, radius=4):
    return (f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{radius:g}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width:g}"'
            + (' stroke-dasharray="5 4"' if dashed else "") + "/>")


def line(x1, y1, x2, y2, arrow_id=None, dashed=False, width=1.2):
    """A line, with an arrow head at its end if ``arrow_id`` names one."""
    return (f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{INK}" '
            f'stroke-width="{width:g}"' + (' stroke-dasharray="4 3"' if dashed else "")
            + (f' marker-end="url(#{arrow_id})"' if arrow_id else "") + "/>")


def text(x, y, content, size, fill=INK, anchor="middle", weight="normal"):
    return (f'<text x="{x:g}" y="{y:g}" font-size="{size}" fill="{fill}" '
            f'font-weight="{weight}" text-anchor="{anchor}">{escape(content)}</text>')
