"""The small charts the pages draw as inline SVG (no chart library): pushes and pulls per day from the daily
roll-up, and storage by namespace. Each comes with the sentence and the table that say the same in text."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import QuerySet, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from portus.registry.models import ActivityDaily, Namespace

DAYS = 30
PLOT_HEIGHT = 80  # pixels the tallest bar gets
DAY_WIDTH = 12  # pixels per day: a push bar and a pull bar side by side
BAR_WIDTH = 5
LEFT = 34  # room for the scale's figures
TOP = 8


@dataclass
class DayBars:
    day: dt.date
    pushes: int
    pulls: int
    x: int
    push_height: int
    pull_height: int

    @property
    def push_y(self) -> int:
        return TOP + PLOT_HEIGHT - self.push_height

    @property
    def pull_x(self) -> int:
        return self.x + BAR_WIDTH

    @property
    def pull_y(self) -> int:
        return TOP + PLOT_HEIGHT - self.pull_height


@dataclass
class ActivityChart:
    days: list[DayBars]
    highest: int
    pushes: int
    pulls: int
    width: int = LEFT + DAYS * DAY_WIDTH + 4
    height: int = TOP + PLOT_HEIGHT + 20
    baseline: int = TOP + PLOT_HEIGHT
    top: int = TOP
    left: int = LEFT

    @property
    def first_day(self) -> dt.date:
        return self.days[0].day

    @property
    def last_day(self) -> dt.date:
        return self.days[-1].day

    @property
    def summary(self) -> str:
        first, last = self.first_day, self.last_day
        pushes = f"{self.pushes} push{'es' if self.pushes != 1 else ''}"
        text = f"{pushes} and {self.pulls} pull{'s' if self.pulls != 1 else ''}"
        text += f" from {first:%b %-d} to {last:%b %-d}"
        busiest = max(self.days, key=lambda bars: (bars.pushes + bars.pulls, bars.day))
        if busiest.pushes + busiest.pulls:
            text += f"; busiest day {busiest.day:%b %-d} ({busiest.pushes} pushes, {busiest.pulls} pulls)"
        return text + "."


def activity_chart(daily: QuerySet[ActivityDaily], today: dt.date | None = None) -> ActivityChart:
    """Pushes and pulls per day over the last DAYS days (today included), summed over the rows of DAILY:
    one query over the roll-up, however much activity there was."""
    today = today or timezone.localdate()
    first = today - dt.timedelta(days=DAYS - 1)
    sums = {
        row["day"]: (row["n_pushes"] or 0, row["n_pulls"] or 0)
        for row in daily.filter(day__gte=first, day__lte=today)
        .order_by()
        .values("day")
        .annotate(n_pushes=Sum("pushes"), n_pulls=Sum("pulls"))
    }
    counts = [
        (first + dt.timedelta(days=offset), *sums.get(first + dt.timedelta(days=offset), (0, 0)))
        for offset in range(DAYS)
    ]
    highest = max([1, *(max(pushes, pulls) for _, pushes, pulls in counts)])

    def height(value: int) -> int:
        # A day with any activity gets at least one pixel, so it never looks like a quiet day.
        return max(1, round(value * PLOT_HEIGHT / highest)) if value else 0

    days = [
        DayBars(day, pushes, pulls, LEFT + index * DAY_WIDTH, height(pushes), height(pulls))
        for index, (day, pushes, pulls) in enumerate(counts)
    ]
    return ActivityChart(days, highest, sum(d.pushes for d in days), sum(d.pulls for d in days))


@dataclass
class StorageBar:
    namespace: Namespace
    size: int
    y: int
    width: int

    @property
    def label(self) -> str:
        return f"{self.namespace.display_name}: {filesizeformat(self.size)}"


@dataclass
class StorageChart:
    bars: list[StorageBar]
    total: int
    row: int = 22
    label_width: int = 180
    plot_width: int = 260
    width: int = 180 + 260 + 90
    height: int = 0
    rest: list[StorageBar] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.bars:
            return "No namespace stores anything yet."
        largest = self.bars[0]
        return (
            f"{len(self.bars) + len(self.rest)} namespaces use {filesizeformat(self.total)}; "
            f"the largest is {largest.label}."
        )


def storage_chart(storage: dict[int, int], shown: int = 15) -> StorageChart:
    """A horizontal bar per namespace, largest first (the SHOWN largest drawn, the rest listed as text)."""
    namespaces = Namespace.objects.select_related("registry").in_bulk([pk for pk, size in storage.items() if size])
    ordered = sorted(
        ((namespaces[pk], size) for pk, size in storage.items() if pk in namespaces),
        key=lambda item: (-item[1], item[0].name),
    )
    chart = StorageChart(bars=[], total=sum(size for _, size in ordered))
    largest = ordered[0][1] if ordered else 1
    for index, (namespace, size) in enumerate(ordered):
        bar = StorageBar(namespace, size, index * chart.row, max(1, round(size * chart.plot_width / largest)))
        (chart.bars if index < shown else chart.rest).append(bar)
    chart.height = max(1, len(chart.bars)) * chart.row
    return chart
