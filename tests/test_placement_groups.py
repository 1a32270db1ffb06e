"""Placement groups and scheduling strategies on one node (as ray.util's)."""
import time

import pytest

import miniray
from miniray.exceptions import ActorUnschedulableError, TaskUnschedulableError
from miniray.util import (
    get_current_placement_group, get_placement_group, placement_group, placement_group_table,
    remove_placement_group)
from miniray.util.scheduling_strategies import (
    NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy)

from conftest import wait_for


@miniray.remote
def where_am_i():
    pg = get_current_placement_group()
    return miniray.get_runtime_context().get_assigned_resources(), pg.id.hex() if pg else None


def test_a_group_reserves_its_bundles_and_its_tasks_run_in_them(no_runtime):
    miniray.init(num_cpus=4)
    pg = placement_group([{"CPU": 1}, {"CPU": 2}], strategy="PACK", name="train")
    assert miniray.get(pg.ready(), timeout=30) is True
    assert pg.wait(5)
    assert miniray.available_resources()["CPU"] == 1.0  # 3 of 4 reserved
    row = placement_group_table(pg)
    assert row["state"] == "CREATED" and row["strategy"] == "PACK" and row["name"] == "train"
    assert row["bundles"] == {0: {"CPU": 1.0}, 1: {"CPU": 2.0}}
    assert get_placement_group("train") == pg

    in_bundle_1 = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=1)
    assert miniray.get(where_am_i.options(num_cpus=2, scheduling_strategy=in_bundle_1)
                       .remote())[0] == {"CPU": 2.0}
    # Four 1-CPU tasks in the group's 3 CPUs: at most 3 at once, and the
    # node's free CPU stays free meanwhile.
    @miniray.remote(num_cpus=1)
    def hold():
        time.sleep(0.5)
        return miniray.available_resources().get("CPU", 0.0)

    anywhere = PlacementGroupSchedulingStrategy(pg)
    start = time.monotonic()
    free = miniray.get([hold.options(scheduling_strategy=anywhere).remote() for _ in range(4)])
    assert time.monotonic() - start >= 0.9  # two rounds
    assert free == [1.0] * 4

    remove_placement_group(pg)
    assert wait_for(lambda: placement_group_table(pg)["state"] == "REMOVED")
    assert wait_for(lambda: miniray.available_resources()["CPU"] == 4.0)
    with pytest.raises(ValueError, match="Failed to look up"):
        get_placement_group("train")


def test_a_group_waits_for_room_and_removal_stops_what_runs_in_it(no_runtime, tmp_path):
    miniray.init(num_cpus=2)
    started, release = tmp_path / "started", tmp_path / "release"

    @miniray.remote(num_cpus=2)
    def hog():
        started.touch()
        while not release.exists():
            time.sleep(0.01)
        return "done"

    running = hog.remote()
    assert wait_for(started.exists)  # it holds both CPUs now
    pg = placement_group([{"CPU": 1}])
    assert not pg.wait(0.3)  # pending until the hog is done
    assert placement_group_table(pg)["state"] == "PENDING"
    release.touch()
    assert miniray.get(running) == "done"
    assert pg.wait(10)

    @miniray.remote
    class Resident:
        def ping(self):
            return "pong"

    actor = Resident.options(num_cpus=1,
                             scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote()
    assert miniray.get(actor.ping.remote()) == "pong"
    remove_placement_group(pg)
    with pytest.raises(miniray.exceptions.ActorDiedError):
        miniray.get(actor.ping.remote(), timeout=30)


def test_strategies_on_one_node_and_bad_groups(no_runtime):
    miniray.init(num_cpus=4)
    for strategy in ("PACK", "SPREAD", "STRICT_PACK"):
        pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy=strategy)
        assert pg.wait(10)
        remove_placement_group(pg)
    spread = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
    assert not spread.wait(0.5)  # needs two nodes
    assert placement_group([{"CPU": 1}], strategy="STRICT_SPREAD").wait(10)
    with pytest.raises(ValueError, match="empty"):
        placement_group([])
    with pytest.raises(ValueError, match="only 0"):
        placement_group([{"CPU": 0}])
    with pytest.raises(ValueError, match="strategy"):
        placement_group([{"CPU": 1}], strategy="TIGHT")
    with pytest.raises(ValueError, match="finite"):
        placement_group([{"CPU": float("nan")}])
    with pytest.raises(ValueError, match="placement_group_bundle_index"):
        PlacementGroupSchedulingStrategy(spread, placement_group_bundle_index=2)


def test_child_tasks_are_captured_in_the_group_when_asked(no_runtime):
    miniray.init(num_cpus=2)
    pg = placement_group([{"CPU": 1}])
    assert pg.wait(10)

    @miniray.remote
    def parent():
        return miniray.get(where_am_i.remote())[1]

    capture = PlacementGroupSchedulingStrategy(pg, placement_group_capture_child_tasks=True)
    assert miniray.get(parent.options(scheduling_strategy=capture).remote()) == pg.id.hex()
    plain = PlacementGroupSchedulingStrategy(pg)
    assert miniray.get(parent.options(scheduling_strategy=plain).remote()) is None


def test_node_affinity(no_runtime):
    miniray.init(num_cpus=1)
    here = miniray.get_runtime_context().get_node_id()
    assert miniray.get(where_am_i.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote())
    elsewhere = "ab" * 16
    assert miniray.get(where_am_i.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(elsewhere, soft=True)).remote())
    with pytest.raises(TaskUnschedulableError, match="hard affinity"):
        miniray.get(where_am_i.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(elsewhere, soft=False)).remote())

    @miniray.remote
    class Pinned:
        pass

    with pytest.raises(ActorUnschedulableError):
        Pinned.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            elsewhere, soft=False)).remote()
    assert miniray.get(where_am_i.options(scheduling_strategy="SPREAD").remote())
    with pytest.raises(ValueError, match="scheduling_strategy"):
        where_am_i.options(scheduling_strategy="NEAREST")
