"""A transparency report as a CSV file and as one self-contained HTML page with its charts
(inline SVG bar charts, inline CSS: no script, nothing fetched), for publishing as it is.

Pure functions of a ``reports.TransparencyReport``: every text is escaped, every number is the
report's own. A hidden count is ``<5`` (or ``>=5``) in the CSV, as in the JSON, and spelled
out on the page ("fewer than 5"), where it has no bar.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from html import escape

from facetrail.services.oversight.reports import (
    FEWER_THAN_5,
    WITHHELD,
    AgencyAccess,
    Count,
    TransparencyReport,
)

__all__ = [
    "SUPPRESSION_NOTE",
    "bar_chart",
    "column_chart",
    "protected_activity",
    "report_csv",
    "report_html",
    "spelled",
    "usage_charts",
]

#: What a reader is told about the counts a report hides.
SUPPRESSION_NOTE = (
    "Each report covers one calendar month that is over. A count from 1 to 4 is shown as "
    "“fewer than 5”; where the total would give such a count away, another count is "
    "withheld too (“5 or more”)."
)
_SPELLED = {FEWER_THAN_5: "fewer than 5", WITHHELD: "5 or more"}
#: The crowd probes' steps (``TransparencyReport.crowd_probes``) as a reader reads them.
_CROWD_STEPS = {
    "refused": "Crowd probes refused by the policy",
    "held": "Crowd probes held for a supervisor's approval",
    "approved": "  of them approved",
    "denied": "  of them denied",
    "run": "  of them run",
}

_CSS = """
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #999;padding:.25rem .6rem;
text-align:left}td.n{text-align:right}figure{margin:1rem 0}figcaption{font-weight:600}
.muted{color:#555}
"""
_BAR_HEIGHT = 22
_LABEL_WIDTH = 220
_CHART_WIDTH = 560


def report_csv(report: TransparencyReport) -> str:
    """``figure,breakdown,value`` rows, after a header, every figure of the report."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["figure", "breakdown", "value"])
    writer.writerow(["scope", report.scope, report.name])
    writer.writerow(["period", report.period_from, report.period_to])
    writer.writerow(["month", "", report.month])
    for figure, breakdown, value in report.rows():
        writer.writerow([figure, breakdown, value])
    return out.getvalue()


def spelled(count: Count | float) -> str:
    """A count as a reader reads it: a hidden one in words ("fewer than 5")."""
    if isinstance(count, str):
        return _SPELLED.get(count, count)
    return str(count) if isinstance(count, int) else f"{count:g}"


def bar_chart(title: str, values: dict[str, float | str], *, percent: bool = False) -> str:
    """A horizontal bar chart as inline SVG, labelled for screen readers, or a line saying
    there is nothing to chart. A hidden count has its label and no bar."""
    if not values:
        return f'<p class="muted">{escape(title)}: none in this period.</p>'
    numbers = [v for v in values.values() if not isinstance(v, str)]
    top = max(numbers, default=0.0) or 1.0
    height = _BAR_HEIGHT * len(values) + 10
    bars = []
    for i, (label, value) in enumerate(sorted(values.items())):
        y = 5 + i * _BAR_HEIGHT
        size = 0.0 if isinstance(value, str) else value
        width = (_CHART_WIDTH - _LABEL_WIDTH - 80) * (size / top)
        shown = f"{size * 100:.1f} %" if percent and not isinstance(value, str) else spelled(value)
        bars.append(
            f'<text x="{_LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" '
            f'height="{_BAR_HEIGHT - 6}" fill="#2b5797"><title>{escape(label)}: {shown}</title>'
            f'</rect><text x="{_LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">{shown}</text>'
        )
    described = "; ".join(
        f"{label} {value * 100:.1f} %"
        if percent and not isinstance(value, str)
        else f"{label} {spelled(value)}"
        for label, value in sorted(values.items())
    )
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{_CHART_WIDTH}" '
        f'height="{height}" viewBox="0 0 {_CHART_WIDTH} {height}" font-size="13" '
        f'aria-label="{escape(title)}: {escape(described)}">{"".join(bars)}</svg></figure>'
    )


def column_chart(title: str, values: dict[str, int]) -> str:
    """Counts over time (``values`` in order: a label per bucket) as upright bars in inline
    SVG, labelled for screen readers; every seventh label written under its bar."""
    if not values:
        return f'<p class="muted">{escape(title)}: nothing in this period.</p>'
    top = max(values.values()) or 1
    width = max(_CHART_WIDTH, 14 * len(values) + 60)
    plot = 120
    step = (width - 50) / len(values)
    parts = [f'<text x="4" y="14">{top}</text><text x="4" y="{plot + 8}">0</text>']
    for i, (label, count) in enumerate(values.items()):
        x = 40 + i * step
        height = plot * count / top
        parts.append(
            f'<rect x="{x:.1f}" y="{plot + 4 - height:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{height:.1f}" fill="#2b5797"><title>{escape(label)}: {count}</title></rect>'
        )
        if i % 7 == 0:
            parts.append(f'<text x="{x:.1f}" y="{plot + 22}">{escape(label[5:])}</text>')
    described = "; ".join(f"{label} {count}" for label, count in values.items() if count)
    height_all = plot + 30
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height_all}" viewBox="0 0 {width} {height_all}" font-size="12" '
        f'aria-label="{escape(title)}: {escape(described or "none")}">{"".join(parts)}</svg>'
        "</figure>"
    )


def usage_charts(report: TransparencyReport) -> list[str]:
    """The charts of the report's use: searches by offense and outcome, alerts by rule."""
    return [
        bar_chart(title, {k: v if isinstance(v, str) else float(v) for k, v in values.items()})
        for title, values in (
            ("Searches by offense", report.searches_by_offense),
            ("Searches by outcome", report.searches_by_outcome),
            ("Misuse alerts by rule", report.alerts_by_rule),
        )
    ]


def protected_activity(report: TransparencyReport) -> list[tuple[str, Count]]:
    """The figures of face search near protected activity, in words, as the page and the
    HTML report show them: the crowd probes step by step (a photo of a demonstration or an
    assembly), and the searches under offense categories marked as close to protected
    activity, with their offenses."""
    return [
        *((_CROWD_STEPS.get(step, step), n) for step, n in report.crowd_probes.items()),
        (
            "Searches under offense categories marked as close to protected activity",
            report.protected_searches,
        ),
        *((f"  of them under {o}", n) for o, n in sorted(report.protected_by_offense.items())),
    ]


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{v}</td>'
            if isinstance(v, int | float)
            else f'<td class="n">{escape(spelled(v))}</td>'
            if v in _SPELLED
            else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: TransparencyReport, access: Sequence[AgencyAccess] = ()) -> str:
    """One self-contained page: the figures, their charts, the accuracy of the packs in use
    and, when given, the table of every agency with access."""
    r = report
    what = "Agency" if r.scope == "agency" else "Network"
    figures = _table(
        ["Figure", "Count"],
        [
            ("Searches", r.searches),
            ("  of them run by a network operator for the agency", r.searches_by_network),
            ("Prior approvals given", r.approvals),
            ("Prior approvals denied", r.denials),
            ("Outcomes recorded as a lead", r.leads),
            ("People who searched", r.searchers),
            ("New accounts", r.new_accounts),
            ("Misuse alerts raised", r.alerts_raised),
            ("Misuse alerts closed", r.alerts_closed),
            ("People erased from galleries (all of facetrail)", r.erasures),
            ("Retention purges (all of facetrail)", r.retention_purges),
            *(
                (f"Erasure requests {step} by the agency's staff", count)
                for step, count in r.erasure_requests.items()
            ),
            *protected_activity(r),
        ],
    )
    charts = usage_charts(r)
    accuracy = []
    for e in r.evaluations:
        accuracy.append(
            f"<h3>{escape(e.pack)}, masks: {escape(e.mask)}</h3>"
            f"<p>Measured on {escape(e.dataset)} ({escape(e.recorded_at)}): rank-1 "
            f"{e.rank1 * 100:.2f} %, FNIR at FPIR 1 % {e.fnir_at_fpir_1pc * 100:.2f} % "
            f"(threshold {e.threshold:.3f}).</p>"
        )
        for key, per in sorted(e.groups.items()):
            accuracy.append(
                bar_chart(
                    f"{e.pack} (masks: {e.mask}): FNIR at FPIR 1 % by {key}",
                    {value: float(g.get("fnir", 0.0)) for value, g in per.items()},
                    percent=True,
                )
            )
    if not accuracy:
        accuracy.append('<p class="muted">No evaluation recorded for the packs in use.</p>')
    relaxed = "".join(f"<li>{escape(x.said())}</li>" for x in r.oversight_relaxations)
    oversight = (
        f"<ul>{relaxed}</ul>"
        if relaxed
        else '<p class="muted">No relaxation of its oversight was proposed or decided.</p>'
    )
    agencies = ""
    if access:
        agencies = "<h2>Every agency with access</h2>" + _table(
            ["Agency", "Through the network", "Since"],
            [(a.agency, a.network or "(direct)", (a.since or "")[:10]) for a in access],
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>facetrail transparency report: {escape(r.name)}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body><main>"
        f"<h1>Transparency report: {escape(r.name)}</h1>"
        f"<p>{what} <strong>{escape(r.name)}</strong>"
        + (f" (agencies: {escape(', '.join(r.agencies))})" if r.scope == "network" else "")
        + f", for the month {escape(r.month)} (from {escape(r.period_from)} to "
        f"{escape(r.period_to)}). Generated {escape(r.generated_at)} from the tamper-evident "
        "audit log. It holds no personal data. A result of a face search is an investigative "
        f"lead, never an identification.</p><p>{escape(SUPPRESSION_NOTE)}</p>"
        f"<h2>Use</h2>{figures}{''.join(charts)}"
        "<h2>Oversight relaxed (alert rules, approvals), with a second person's decision</h2>"
        f"{oversight}"
        f"<h2>Accuracy of the model packs in use</h2>{''.join(accuracy)}"
        f"{agencies}</main></body></html>"
    )
