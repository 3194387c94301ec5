"""console.charts: figures built without a template get the named one at rendering, exactly as plotly would."""
import json
import re

import plotly.graph_objects as go
import pytest

from webapp.console.charts import figure, figure_html


def _figure_json(html: str) -> dict:
    block = re.search(r'<script type="application/json"[^>]*>(.*)</script>', str(html), re.S).group(1)
    return json.loads(block)["figure"]


@pytest.mark.parametrize("template", ["plotly_white", None])
def test_a_template_added_at_rendering_gives_plotlys_own_figure(template):
    def build(make):
        fig = make(go.Bar(x=["Running", "Pending"], y=[3, 1], name="pods"), title="Pods per phase")
        fig.add_scatter(x=["Running"], y=[2], mode="lines")
        fig.update_layout(height=360, margin={"l": 40, "r": 20, "t": 40, "b": 40}, xaxis_title="phase")
        return fig

    plain = build(lambda *traces, **layout: go.Figure(list(traces), layout=layout))
    if template:
        plain.update_layout(template=template)  # the slow way: plotly copies and validates the template here
    ours = _figure_json(figure_html(build(figure), template=template))
    theirs = _figure_json(figure_html(plain))
    assert ours == theirs
    assert ours["layout"]["template"]["layout"]  # a real template, not the empty placeholder
    white = _figure_json(figure_html(build(figure), template="plotly_white"))["layout"]["template"]
    assert (white == ours["layout"]["template"]) == (template == "plotly_white")


def test_rendering_never_changes_the_cached_template():
    html = [figure_html(figure(go.Bar(x=[1], y=[1]), title=str(n)), template="plotly_white") for n in range(2)]
    assert _figure_json(html[0])["layout"]["template"] == _figure_json(html[1])["layout"]["template"]
