"""Plotly figures on console pages without inline scripts (the Content-Security-Policy allows none).

`figure_html(fig)` renders a figure as an empty `<div data-plotly-figure>` followed by its figure JSON in a
`<script type="application/json">` data block (never executed); `static/console/charts.js` draws every such div
with `Plotly.newPlot` from the local `static/vendor/plotly.min.js`. The JSON is escaped for an HTML data block:
`<`, `>`, `&` and U+2028/U+2029 become `\\uXXXX`, so a label such as `</script><script>` stays text.

Templates: plotly deep-copies and re-validates a whole template every time one is set on a figure (~30 ms of a
page's CPU per chart). `figure()` makes a figure without one and `figure_html` adds the named template from a
copy built once per process; the JSON is the same as with `template=` set on the figure.
"""
from __future__ import annotations

import json
import uuid
from functools import lru_cache

from markupsafe import Markup, escape

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_for_html(value) -> str:
    """JSON text that is safe inside `<script type="application/json">` (and parses back to `value`)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def figure(*traces, **layout):
    """A `plotly.graph_objects.Figure` of `traces` and `layout` whose template `figure_html` fills in."""
    import plotly.graph_objects as go

    return go.Figure(list(traces), layout={**layout, "template": {}})


@lru_cache(maxsize=None)
def _template(name: str) -> dict:
    import plotly.io as pio

    return pio.templates[name].to_plotly_json()  # only ever serialised, never changed


def figure_html(fig, *, template: str | None = None, height: int | str | None = None,
                config: dict | None = None) -> Markup:
    """The figure as a placeholder div + JSON data block (see the module docstring); a figure from `figure()`
    gets `template` (default: plotly's default template)."""
    import plotly.io as pio

    data = fig.to_plotly_json()
    # figure()'s placeholder: empty, or holding only the per-trace-type stubs plotly adds with add_bar() & co.
    # Every real template has a layout.
    if "layout" not in (data["layout"].get("template") or {}):
        data["layout"]["template"] = _template(template or pio.templates.default)
    figure_json = pio.to_json(data, validate=False)  # plotly's own encoder: numpy arrays, dates, typed arrays
    if height is None:
        layout_height = fig.layout.height
        height = f"{int(layout_height)}px" if layout_height else "100%"
    elif isinstance(height, int):
        height = f"{height}px"
    chart_id = f"chart-{uuid.uuid4().hex[:12]}"
    payload = json_for_html(f'{{"figure":{figure_json},"config":{json.dumps(config or PLOTLY_CONFIG)}}}')
    return Markup(
        f'<div><div id="{chart_id}" class="plotly-graph-div" data-plotly-figure="{chart_id}-data" '
        f'style="height:{escape(height)}; width:100%;"></div>'
        f'<script type="application/json" id="{chart_id}-data">{payload}</script></div>'
    )
