"""Charts drawn on the server as inline SVG: no JavaScript, no internet."""

import math

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .reports import OUTCOMES

OUTCOME_COLORS = {
    "committed": "#2e7d32",
    "pr_open": "#1565c0",
    "no_changes": "#9e9e9e",
    "conflicts": "#ef6c00",
    "failed": "#c62828",
    "rejected": "#6a1b9a",
    "approvals_waiting": "#f9a825",
    "in_progress": "#4fc3f7",
}

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 50, 10, 10, 90  # BOTTOM holds the day labels, the x title and the legend
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_DAY_LABELS, Y_TICKS = 10, 4
LEGEND_COLUMNS = 4


def outcome_label(outcome: str) -> str:
    return "PR open" if outcome == "pr_open" else outcome.replace("_", " ").capitalize()


def daily_outcomes_chart(days: list[dict]) -> SafeString:
    """Promotions per day stacked by outcome, from reports.daily_outcomes rows."""
    top = _round_up(max((day["promotions"] for day in days), default=0))
    slot = PLOT_WIDTH / max(len(days), 1)
    label_every = math.ceil(len(days) / MAX_DAY_LABELS) or 1

    def y(count: float) -> float:
        return TOP + PLOT_HEIGHT - count / top * PLOT_HEIGHT

    bars, labels = [], []
    for index, day in enumerate(days):
        x, stacked = LEFT + index * slot + slot * 0.1, 0
        for outcome in OUTCOMES:
            if day[outcome]:
                height = day[outcome] / top * PLOT_HEIGHT
                title = f"{day['day']:%Y-%m-%d}: {day[outcome]} {outcome_label(outcome).lower()}"
                bars.append(
                    (*_rounded(x, y(stacked + day[outcome]), slot * 0.8, height), OUTCOME_COLORS[outcome], title)
                )
                stacked += day[outcome]
        if index % label_every == 0:
            labels.append((*_rounded(x + slot * 0.4), TOP + PLOT_HEIGHT + 16, f"{day['day']:%m-%d}"))
    ticks = [(top * n // Y_TICKS, *_rounded(y(top * n / Y_TICKS))) for n in range(Y_TICKS + 1)]
    legend_top = TOP + PLOT_HEIGHT + 50
    legend = [
        (
            LEFT + (n % LEGEND_COLUMNS) * 170,
            legend_top + (n // LEGEND_COLUMNS) * 18,
            OUTCOME_COLORS[outcome],
            outcome_label(outcome),
        )
        for n, outcome in enumerate(OUTCOMES)
    ]
    return format_html(
        '<svg class="outcomes-chart" role="img" aria-label="Promotions per day by outcome" xmlns="http://www.w3.org/2000/svg"'
        ' width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">'
        "{grid}{bars}{labels}"
        '<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>'
        '<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#444"/>'
        '<text x="{mid_x}" y="{x_title_y}" text-anchor="middle">Day requested</text>'
        '<text transform="translate(14 {mid_y}) rotate(-90)" text-anchor="middle">Promotions</text>'
        '<g class="legend">{legend}</g></svg>',
        w=WIDTH,
        h=HEIGHT,
        left=LEFT,
        right=LEFT + PLOT_WIDTH,
        top=TOP,
        bottom=TOP + PLOT_HEIGHT,
        mid_x=LEFT + PLOT_WIDTH / 2,
        mid_y=TOP + PLOT_HEIGHT / 2,
        x_title_y=TOP + PLOT_HEIGHT + 34,
        grid=format_html_join(
            "",
            '<line x1="{0}" y1="{2}" x2="{1}" y2="{2}" stroke="#ddd"/>'
            '<text x="{3}" y="{4}" text-anchor="end">{5}</text>',
            ((LEFT, LEFT + PLOT_WIDTH, ty, LEFT - 6, round(ty + 4, 1), count) for count, ty in ticks),
        ),
        bars=format_html_join(
            "",
            '<rect x="{0}" y="{1}" width="{2}" height="{3}" fill="{4}"><title>{5}</title></rect>',
            bars,
        ),
        labels=format_html_join("", '<text x="{0}" y="{1}" text-anchor="middle">{2}</text>', labels),
        legend=format_html_join(
            "",
            '<rect x="{0}" y="{1}" width="12" height="12" fill="{2}"/><text x="{3}" y="{4}">{5}</text>',
            ((x, ly, color, x + 16, ly + 10, label) for x, ly, color, label in legend),
        ),
    )


def _rounded(*coordinates: float) -> tuple[float, ...]:
    return tuple(round(c, 1) for c in coordinates)


def _round_up(count: int) -> int:
    """The y axis' top: a multiple of Y_TICKS at or above the highest bar (at least Y_TICKS)."""
    return max(Y_TICKS, math.ceil(count / Y_TICKS) * Y_TICKS)
