"""The schedule: rate x duration slots at fixed times, after an unjudged warm-up."""

from __future__ import annotations

from deployer.loadtest.pacing import Pacer


def test_slots_are_evenly_spaced_and_bounded_in_count() -> None:
    pacer = Pacer(rate=4, duration_s=1.5, clock=lambda: 100.0)
    slots = [pacer.next_slot() for _ in range(8)]
    assert slots[:6] == [("send", 100.0), ("send", 100.25), ("send", 100.5), ("send", 100.75), ("send", 101.0),
                         ("send", 101.25)]
    assert slots[6:] == [("done", 0.0), ("done", 0.0)]
    assert pacer.done


def test_the_schedule_starts_after_the_warm_up_is_answered() -> None:
    now = [10.0]
    pacer = Pacer(rate=10, duration_s=1, warmup=2, clock=lambda: now[0])
    assert pacer.next_slot() == ("warmup", 0.0)
    assert pacer.next_slot() == ("warmup", 0.0)
    assert pacer.next_slot() == ("wait", 0.0)
    pacer.warmup_answered = 2
    now[0] = 12.5
    assert pacer.next_slot() == ("send", 12.5)  # slot 0 is when the warm-up ended, not before
    assert pacer.next_slot() == ("send", 12.6)


def test_a_tiny_run_still_sends_one_request() -> None:
    pacer = Pacer(rate=0.5, duration_s=1, clock=lambda: 0.0)
    assert pacer.next_slot() == ("send", 0.0)
    assert pacer.next_slot() == ("done", 0.0)
