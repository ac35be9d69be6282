/* Admin analytics dashboard: draws the figures the page embeds (json_script "analytics-data")
 * with the vendored Chart.js. No network requests: the server computed everything in SQL. */
"use strict";

(function () {
  function ready(fn) {
    if (document.readyState !== "loading") {
      fn();
    } else {
      document.addEventListener("DOMContentLoaded", fn);
    }
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) {
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false }, config.options || {});
      return new window.Chart(canvas, config);
    }
    return null;
  }

  function shorten(text, length) {
    return text.length > length ? text.slice(0, length - 1) + "\u2026" : text;
  }

  ready(function () {
    const source = document.getElementById("analytics-data");
    if (!source || !window.Chart) {
      return;
    }
    const data = JSON.parse(source.textContent);

    const active = data.active_users.results;
    draw("chart-active-users", {
      type: "line",
      data: {
        labels: active.map((row) => row.period),
        datasets: [{ label: "Active users", data: active.map((row) => row.active_users), cubicInterpolationMode: "monotone", fill: true }],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });

    const steps = data.funnel.steps;
    draw("chart-funnel", {
      type: "bar",
      data: {
        labels: steps.map((step) => step.step),
        datasets: [
          { label: "Users at this step", data: steps.map((step) => step.users) },
          { label: "Users who also did every earlier step on the same item", data: steps.map((step) => step.converted) },
        ],
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });

    const top = data.top_items.results;
    draw("chart-top-items", {
      type: "bar",
      data: {
        labels: top.map((row) => shorten(row.title || row.external_id || String(row.id), 40)),
        datasets: [{ label: "Score (sum of weights)", data: top.map((row) => row.score) }],
      },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true } } },
    });

    const series = data.bot_usage.series;
    draw("chart-bot-usage", {
      type: "bar",
      data: {
        labels: series.map((row) => row.period),
        datasets: [
          { label: "Answered", data: series.map((row) => row.answers - row.unanswered - row.errors), stack: "answers" },
          { label: "Unanswered", data: series.map((row) => row.unanswered), stack: "answers" },
          { label: "Errors", data: series.map((row) => row.errors), stack: "answers" },
          { label: "Feedback +1", data: series.map((row) => row.feedback_positive), stack: "feedback" },
          { label: "Feedback \u22121", data: series.map((row) => row.feedback_negative), stack: "feedback" },
        ],
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });

    // Rates are null where nothing was shown: Chart.js leaves a gap there instead of a false zero.
    const recommendations = data.recommendations;
    const rateAxis = { beginAtZero: true, suggestedMax: 0.2, ticks: { format: { style: "percent" } } };
    const recommendationPeriods = recommendations.sources.length ? recommendations.sources[0].series.map((row) => row.period) : [];
    draw("chart-rec-sources", {
      type: "line",
      data: {
        labels: recommendationPeriods,
        datasets: recommendations.sources.map((source) => ({
          label: source.source,
          data: source.series.map((row) => row.click_through_rate),
          spanGaps: false,
        })),
      },
      options: { scales: { y: rateAxis } },
    });
    draw("chart-rec-positions", {
      type: "bar",
      data: {
        labels: recommendations.positions.map((row) => row.label),
        datasets: [
          { label: "Click-through rate", data: recommendations.positions.map((row) => row.click_through_rate) },
          { label: "Dismissal rate", data: recommendations.positions.map((row) => row.dismissal_rate) },
        ],
      },
      options: { scales: { y: rateAxis } },
    });
  });
})();
