/* Draws every server-built Plotly figure of a console page (webapp/console/charts.py):
   <div data-plotly-figure="ID"> + <script type="application/json" id="ID">{"figure": ..., "config": ...}</script>.
   No inline script is needed, so the Content-Security-Policy can forbid them (script-src 'self'). */
(function () {
  'use strict';

  function drawAll() {
    if (!window.Plotly) { return; }
    var divs = document.querySelectorAll('[data-plotly-figure]');
    Array.prototype.forEach.call(divs, function (div) {
      if (div.getAttribute('data-plotly-drawn')) { return; }
      var source = document.getElementById(div.getAttribute('data-plotly-figure'));
      if (!source) { return; }
      var spec;
      try {
        spec = JSON.parse(source.textContent);
      } catch (e) {
        div.textContent = 'This chart could not be read.';
        return;
      }
      var figure = spec.figure || {};
      div.setAttribute('data-plotly-drawn', '1');
      window.Plotly.newPlot(div, figure.data || [], figure.layout || {}, spec.config || {});
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', drawAll);
  } else {
    drawAll();
  }
}());
