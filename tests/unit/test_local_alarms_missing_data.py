"""Gaps in the data: the evaluator against CloudWatch's documented examples, cell by cell.

Source: Amazon CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data",
section "How alarm state is evaluated when data is missing" and its subsection "Avoiding premature
transitions to alarm state" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html,
formerly AlarmThatSendsEmail.html#alarms-evaluating-missing-data). Transcribed from the guide's
public source, github.com/awsdocs/amazon-cloudwatch-user-guide, doc_source/AlarmThatSendsEmail.md
at its last revision there (commit b355497, "Periodic Update 05/17/2023").

In both tables Evaluation Periods is 3, the evaluation range is 5 data points (most recent on the
right; 0 is not breaching, X breaching, - missing) and the period is 5 minutes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployer.compiled import AlarmModel
from deployer.local.behaviour.alarms import AlarmEvaluator, State, assess, decide, evaluation_range
from deployer.local.behaviour.metrics import MetricKey, MetricStore

T0 = 1_800_000_000.0  # a multiple of 300: 5-minute periods start at T0 + k * 300
PERIOD_S = 300
KEY = MetricKey.of("Deployer", "Latency", {"Agent": "a", "Environment": "e", "Version": "2"})
RETAIN = "Retain current state"

# First table: Datapoints to Alarm 3, Evaluation Periods 3.
# (Data points, # of data points that must be filled, MISSING, IGNORE, BREACHING, NOT BREACHING)
THREE_OF_THREE = [
    ("0 - X - X", 0, "OK", "OK", "OK", "OK"),
    ("0 - - - -", 2, "OK", "OK", "OK", "OK"),
    ("- - - - -", 3, "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
    ("0 X X - X", 0, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - X - -", 2, "ALARM", RETAIN, "ALARM", "OK"),
]

# Second table: Datapoints to Alarm 2, Evaluation Periods 3 ("a 2 out of 3, M out of N alarm").
# (Data points, # of missing data points, MISSING, IGNORE, BREACHING, NOT BREACHING)
TWO_OF_THREE = [
    ("0 - X - X", 0, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", 0, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", 1, "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", 2, "OK", "OK", "ALARM", "OK"),
    ("- - - X -", 2, "ALARM", RETAIN, "ALARM", "OK"),
]

TABLES = (("3 of 3", 3, THREE_OF_THREE), ("2 of 3", 2, TWO_OF_THREE))
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")  # the columns MISSING .. NOT BREACHING
STATES: tuple[State, ...] = ("OK", "ALARM", "INSUFFICIENT_DATA")


def documented_cells() -> Iterator[tuple[str, int, str, str, str]]:
    for title, m, table in TABLES:
        for points, _filled, *results in table:
            for treatment, result in zip(TREATMENTS, results, strict=True):
                yield title, m, points, treatment, result


def cells_from_every_state() -> Iterator[object]:
    # The guide states 37 of the 40 results from the data alone (no starting state in the tables or
    # in the text that explains each row), so each of those must come out whatever the alarm's state
    # was before. The other 3 say "Retain current state" (IGNORE on "- - - - -" and "- - X - -" of
    # the first table, "- - - X -" of the second): each expects the state the alarm started in.
    for title, m, points, treatment, result in documented_cells():
        for start in STATES:
            expected = start if result == RETAIN else result
            yield pytest.param(m, points, treatment, start, expected, id=f"{title}|{points}|{treatment}|from {start}")


def classes_of(points: str) -> list[str]:
    return [{"0": "G", "X": "B", "-": "-"}[p] for p in points.split()]


def alarm(**overrides: object) -> AlarmModel:
    base: dict[str, object] = dict(
        name="latency", kind="latency", source="abort", metric="Latency", statistic="Maximum",
        comparison="GreaterThanThreshold", threshold=100.0, period_s=PERIOD_S, evaluation_periods=3,
        datapoints_to_alarm=3, missing_data="missing", notify=(), gates_rollout=True, severity="critical",
        description="",
    )
    base.update(overrides)
    return AlarmModel(**base)  # type: ignore[arg-type]


def put(store: MetricStore, period_index: int, point: str) -> None:
    """One datapoint in the period: "0" within the threshold, "X" above it, "-" none."""
    if point != "-":
        store.add(KEY, T0 + period_index * PERIOD_S + 1, 20.0 if point == "0" else 500.0)


def end_of(period_index: int) -> float:
    """Just after the period ends: the evaluation that first sees it complete."""
    return T0 + (period_index + 1) * PERIOD_S + 0.5


def evaluator_in(store: MetricStore, a: AlarmModel, start: State) -> AlarmEvaluator:
    """An evaluator whose alarm reached `start` from real data long before period 0."""
    ev = AlarmEvaluator((a,), store, agent="a", environment="e")
    ev.watch("2", T0 - 20 * PERIOD_S)
    if start != "INSUFFICIENT_DATA":
        for i in (-12, -11, -10):  # three real datapoints: decided whatever the treatment
            put(store, i, "X" if start == "ALARM" else "0")
        ev.evaluate(a, end_of(-10))
    assert ev.status()[0].state == start
    return ev


def test_the_transcription_has_every_documented_cell():
    cells = list(documented_cells())
    assert len(cells) == 40 and sum(1 for *_, result in cells if result == RETAIN) == 3


@pytest.mark.parametrize(("m", "points", "treatment", "start", "expected"), list(cells_from_every_state()))
def test_each_documented_cell_is_decided_as_documented(m, points, treatment, start, expected):
    assert decide(classes_of(points), m, treatment, start, evaluation_periods=3) == expected


@pytest.mark.parametrize(("m", "points", "treatment", "start", "expected"), list(cells_from_every_state()))
def test_each_documented_cell_through_the_evaluator_from_real_datapoints(m, points, treatment, start, expected):
    store = MetricStore()
    a = alarm(datapoints_to_alarm=m, missing_data=treatment)
    ev = evaluator_in(store, a, start)
    for i, point in enumerate(points.split()):
        put(store, i, point)
    transition = ev.evaluate(a, end_of(4))
    assert ev.status()[0].state == expected
    assert (transition is None) == (expected == start)


@pytest.mark.parametrize(("m", "points", "filled"), [(m, row[0], row[1]) for _, m, table in TABLES for row in table])
@pytest.mark.parametrize("treatment", ["breaching", "notBreaching"])
def test_column_two_is_how_many_missing_periods_are_filled_in(m, points, filled, treatment):
    # "CloudWatch uses missing data points only as few times as possible": real datapoints from
    # anywhere in the range come first, and only the shortfall from 3 is filled in.
    assert assess(classes_of(points), m, treatment, "OK", evaluation_periods=3).filled == filled


# -- the evaluation range -------------------------------------------------------------------------
def test_the_range_reads_two_periods_more_than_the_alarm_window():
    a = alarm()
    assert evaluation_range(a) == 5 and evaluation_range(alarm(evaluation_periods=1)) == 3
    ev = AlarmEvaluator((a,), MetricStore(), agent="a", environment="e")
    at = T0 + 5 * PERIOD_S + 120  # two minutes into period 5
    assert [p.start for p in ev.period_values(a, at, "2", periods=5)] == [T0 + i * PERIOD_S for i in range(5)]
    assert [p.start for p in ev.period_values(a, at, "2")] == [T0 + i * PERIOD_S for i in (2, 3, 4)]


def test_a_good_datapoint_counts_until_it_leaves_the_range():
    # The guide on "0 - - - -" (3 of 3, breaching): OK, and "the next time this alarm is evaluated,
    # if the data is still missing it will go to ALARM, as that non-breaching data point will no
    # longer be in the evaluation range".
    store = MetricStore()
    a = alarm(missing_data="breaching")
    ev = evaluator_in(store, a, "INSUFFICIENT_DATA")
    put(store, 0, "0")
    t = ev.evaluate(a, end_of(4))
    assert t is not None and t.new == "OK"
    assert "2 out of the last 3 datapoints" in t.reason and "2 missing treated as breaching" in t.reason
    t = ev.evaluate(a, end_of(5))
    assert t is not None and t.new == "ALARM" and "3 missing treated as breaching" in t.reason


def test_gaps_are_skipped_when_the_range_holds_enough_real_datapoints():
    # "X X - X -" holds three real datapoints: they are evaluated and notBreaching is not needed,
    # although only one of the last three periods has data.
    store = MetricStore()
    a = alarm(missing_data="notBreaching")
    ev = evaluator_in(store, a, "OK")
    for i, point in enumerate(["X", "X", "-", "X", "-"]):
        put(store, i, point)
    t = ev.evaluate(a, end_of(4))
    assert t is not None and t.new == "ALARM"
    assert "3 out of the last 3 datapoints" in t.reason and "missing" not in t.reason
    assert ev.status()[0].datapoints == [None, 500.0, None]  # the status shows the last 3 periods


@pytest.mark.parametrize("start", ["OK", "INSUFFICIENT_DATA"])
def test_a_lone_breach_goes_to_alarm_once_it_is_m_periods_old(start):
    # "Avoiding premature transitions": with 3 of 3 and missing data treated as missing, "- - - - X"
    # and "- - - X -" do not go to ALARM ("the next data point may be non-breaching"); "- - X - -" does.
    store = MetricStore()
    a = alarm(missing_data="missing")
    ev = evaluator_in(store, a, start)
    put(store, 0, "X")
    assert ev.evaluate(a, end_of(0)) is None  # - - - - X: the state holds (our choice; see alarms.py)
    assert ev.evaluate(a, end_of(1)) is None  # - - - X -
    t = ev.evaluate(a, end_of(2))  # - - X - -
    assert t is not None and t.new == "ALARM"
    assert "the oldest 3 periods old with only missing data since" in t.reason
    assert ev.evaluate(a, end_of(4)) is None  # X - - - -: still in the range
    t = ev.evaluate(a, end_of(5))  # - - - - -
    assert t is not None and t.new == "INSUFFICIENT_DATA"


@pytest.mark.parametrize("treatment", ["missing", "ignore"])
def test_a_breach_too_recent_to_alarm_does_not_end_an_alarm(treatment):
    # Not in the guide's tables: "- - - - X" only "does not go immediately into ALARM state". Going
    # to OK on a breaching datapoint would be wrong, so the state holds (this module's choice).
    store = MetricStore()
    a = alarm(missing_data=treatment)
    ev = evaluator_in(store, a, "ALARM")
    put(store, 4, "X")
    assert ev.evaluate(a, end_of(4)) is None
    assert ev.status()[0].state == "ALARM"


def test_ignore_never_alarms_on_fewer_than_m_breaches():
    verdict = assess(classes_of("X - - - -"), 3, "ignore", "OK", evaluation_periods=3)
    assert (verdict.state, verdict.premature) == ("OK", False)
    verdict = assess(classes_of("X - - - -"), 3, "missing", "OK", evaluation_periods=3)
    assert (verdict.state, verdict.premature) == ("ALARM", True)


def test_history_the_store_must_keep_covers_the_range_and_the_period_under_way():
    store = MetricStore()
    ev = AlarmEvaluator((alarm(), alarm(name="fast", period_s=60, evaluation_periods=10)), store,
                        agent="a", environment="e")
    assert ev.longest_history_s == max(6 * 300, 13 * 60)
    pruned = MetricStore(retention_s=ev.longest_history_s)
    a = alarm(missing_data="breaching")
    ev = evaluator_in(pruned, a, "INSUFFICIENT_DATA")
    put(pruned, 0, "0")  # the oldest period of the range at the evaluation below
    at = T0 + 5 * PERIOD_S + PERIOD_S - 1  # late in period 5, still under way
    pruned.prune(at)
    t = ev.evaluate(a, at)
    assert t is not None and t.new == "OK"  # the good datapoint survived the pruning
