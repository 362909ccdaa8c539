"""The cycle collector is paused inside artifact work and restored as it was, nested or not."""

from __future__ import annotations

import gc

import pytest

from dataops_platform.artifacts import collector


def test_paused_regions_nest_and_restore_the_collector() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner region does not switch it back on"
    assert gc.isenabled()


def test_a_region_that_raises_restores_the_collector() -> None:
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("a builder failed")
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
