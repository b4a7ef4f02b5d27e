/* global document, uPlot */
// Draws the queues page's charts from the outcomes API with uPlot. A file of its own: the
// dashboard's Content-Security-Policy allows no inline script.
(function drawCharts() {
  const charts = Array.from(document.querySelectorAll('[data-chart]'));
  if (charts.length === 0) return;
  if (typeof uPlot !== 'function') {
    for (const element of charts) element.textContent = 'The chart library did not load.';
    return;
  }
  const source = charts[0].getAttribute('data-src');
  fetch(source, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
    .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
    .then((data) => {
      for (const element of charts) draw(element, data);
    })
    .catch(() => {
      for (const element of charts) element.textContent = 'The chart data could not be loaded.';
    });

  function draw(element, data) {
    const width = Math.max(320, element.clientWidth || 480);
    const base = { width, height: 220, scales: { x: { time: true } }, legend: { live: false } };
    if (element.getAttribute('data-chart') === 'throughput') {
      const options = {
        ...base,
        series: [
          {},
          { label: 'succeeded', stroke: '#2f855a', fill: 'rgba(47, 133, 90, 0.12)' },
          { label: 'failed', stroke: '#c53030', fill: 'rgba(197, 48, 48, 0.12)' },
        ],
      };
      new uPlot(options, [data.minutes, data.succeeded, data.failed], element);
    } else {
      const options = {
        ...base,
        scales: { ...base.scales, y: { range: [0, 100] } },
        series: [{}, { label: 'failure rate %', stroke: '#c05621', spanGaps: false }],
      };
      new uPlot(options, [data.minutes, data.failureRate], element);
    }
  }
})();
