"""Three nodes on one machine (127.0.0.1, .2 and .3, each its own node
daemon, NodeService over gRPC between them): tasks and actors placed on
other nodes, objects pulled between nodes, placement groups across nodes,
spillback, output from other nodes, a node killed during a job, a node cut
off (SIGSTOP: silent, as behind a partition) that comes back, a call
without the cluster token. One cluster serves the whole file; the tests
that kill or cut off a node run last. The driver is this test process,
attached to the head."""
import glob
import json
import os
import signal
import time

import numpy as np
import pytest

import miniray
from miniray import exceptions
from miniray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from conftest import free_port, miniray_cli, session_processes, wait_for

IPS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory):
    """{ip: node id hex}, with this process attached as the driver."""
    temp_dir = str(tmp_path_factory.mktemp("cluster3"))
    port = free_port()
    miniray_cli("start", "--head", "--port", str(port), "--temp-dir", temp_dir, "--num-cpus",
                "1", "--include-dashboard", "false", "--node-timeout-ms", "3000")
    address = f"127.0.0.1:{port}"
    sessions = [os.path.realpath(os.path.join(temp_dir, "session_latest"))]
    try:
        for ip, extra in ((IPS[1], []), (IPS[2], ["--resources", '{"special": 1}'])):
            miniray_cli("start", "--address", address, "--node-ip-address", ip, "--num-cpus",
                        "1", "--temp-dir", temp_dir, *extra)
            sessions.append(os.path.realpath(os.path.join(temp_dir, "session_latest")))
        os.environ["MINIRAY_TEMP_DIR"] = temp_dir
        miniray.init(address=address)
        ids = wait_for(lambda: {n["NodeManagerAddress"]: n["NodeID"]
                                for n in miniray.nodes() if n["Alive"]}, timeout=10)
        assert sorted(ids) == IPS
        yield {"ids": ids, "temp_dir": temp_dir, "sessions": sessions}
    finally:
        miniray.shutdown()
        os.environ.pop("MINIRAY_TEMP_DIR", None)
        miniray_cli("stop", "--temp-dir", temp_dir)
        # Nothing left: no daemon, redis or worker of any of the three.
        assert wait_for(lambda: not any(session_processes(s) for s in sessions), timeout=20)


@miniray.remote
def node_of(_=None):
    return miniray.get_runtime_context().get_node_id()


def on(node_id, soft=False):
    return NodeAffinitySchedulingStrategy(node_id, soft=soft)


def test_every_node_serves_node_service_and_is_listed(cluster3):
    nodes = {n["NodeManagerAddress"]: n for n in miniray.nodes()}
    for ip in IPS:
        assert nodes[ip]["Alive"] and nodes[ip]["NodeManagerPort"] > 0
        assert nodes[ip]["NodeID"] == cluster3["ids"][ip]
    assert miniray.cluster_resources()["CPU"] == 3.0


def test_spread_reaches_all_three_nodes(cluster3):
    refs = [node_of.options(scheduling_strategy="SPREAD").remote() for _ in range(9)]
    assert set(miniray.get(refs)) == set(cluster3["ids"].values())


def test_node_affinity_runs_where_asked(cluster3):
    for ip, node_id in cluster3["ids"].items():
        assert miniray.get(node_of.options(scheduling_strategy=on(node_id)).remote()) == node_id
    # A soft affinity to a node that is not there runs somewhere; a hard one fails.
    gone = "ab" * 16
    assert miniray.get(node_of.options(scheduling_strategy=on(gone, soft=True)).remote()) in \
        cluster3["ids"].values()
    with pytest.raises(exceptions.TaskUnschedulableError, match="hard affinity"):
        miniray.get(node_of.options(scheduling_strategy=on(gone)).remote())


def test_a_task_that_fits_only_on_another_node_runs_there(cluster3):
    ref = node_of.options(resources={"special": 1}).remote()
    assert miniray.get(ref, timeout=30) == cluster3["ids"][IPS[2]]


@miniray.remote
def make(n):
    return np.arange(n, dtype=np.uint8)


@miniray.remote
def total(a):
    return int(a.sum(dtype=np.int64)), miniray.get_runtime_context().get_node_id()


def test_a_200mb_array_made_on_one_node_is_summed_on_another_and_read_here(cluster3):
    ids = cluster3["ids"]
    n = 200 * 1024 * 1024
    expected = int(np.arange(n, dtype=np.uint8).sum(dtype=np.int64))
    a = make.options(scheduling_strategy=on(ids[IPS[1]])).remote(n)
    s, where = miniray.get(total.options(scheduling_strategy=on(ids[IPS[2]])).remote(a))
    assert (s, where) == (expected, ids[IPS[2]])
    arr = miniray.get(a)  # pulled into the driver's node
    assert arr.shape == (n,) and int(arr[:1000].sum()) == sum(i % 256 for i in range(1000))
    # And a local task takes it from here, and a remote one from the driver's node.
    assert miniray.get(total.remote(a))[0] == expected
    put = miniray.put(np.ones(5 * 1024 * 1024, dtype=np.uint8))
    assert miniray.get(total.options(scheduling_strategy=on(ids[IPS[1]])).remote(put)) == \
        (5 * 1024 * 1024, ids[IPS[1]])


def test_tasks_spill_to_nodes_with_room_and_go_to_their_arguments(cluster3):
    """The driver's node has one CPU: of three 1-second tasks submitted at
    once, two run on the other nodes (spillback); tasks one at a time stay
    here; a task whose argument was made on node 3 runs there."""
    ids = cluster3["ids"]
    assert wait_for(lambda: all(_row(ip).resources_available.get("CPU") == 1.0 for ip in IPS),
                    timeout=15)
    time.sleep(1.2)  # the driver's view of the nodes (read every second) is fresh
    refs = [slow_node_of.remote(1.0) for _ in range(3)]
    assert sorted(miniray.get(refs, timeout=30)) == sorted(ids.values())
    for _ in range(5):
        assert miniray.get(node_of.remote()) == ids[IPS[0]]
    time.sleep(1.2)
    a = make.options(scheduling_strategy=on(ids[IPS[2]])).remote(1000)
    assert miniray.get(total.remote(a)) == (sum(i % 256 for i in range(1000)), ids[IPS[2]])


def test_errors_and_small_values_come_back_from_other_nodes(cluster3):
    @miniray.remote
    def boom(x):
        raise ValueError(f"bad {x}")

    @miniray.remote
    def add(a, b):
        return a + b

    ids = cluster3["ids"]
    with pytest.raises(ValueError, match="bad 3"):
        miniray.get(boom.options(scheduling_strategy=on(ids[IPS[1]])).remote(3))
    # A chain across the three nodes: each takes the previous one's result.
    ref = add.options(scheduling_strategy=on(ids[IPS[1]])).remote(1, 2)
    ref = add.options(scheduling_strategy=on(ids[IPS[2]])).remote(ref, 10)
    ref = add.remote(ref, 100)
    assert miniray.get(ref) == 113
    ready, _ = miniray.wait([add.options(scheduling_strategy=on(ids[IPS[2]])).remote(1, 1)],
                            timeout=30)
    assert miniray.get(ready[0]) == 2


def _row(ip):
    """The node's row in the GCS (its daemon reports every 0.5 s)."""
    from miniray._private.worker_state import global_worker
    return [n for n in global_worker.cluster.gcs.nodes() if n.node_manager_address == ip][0]


def test_dropping_a_remote_result_frees_it_on_its_node(cluster3):
    ids = cluster3["ids"]
    assert wait_for(lambda: _row(IPS[2]).object_store_used == 0, timeout=10)
    ref = make.options(scheduling_strategy=on(ids[IPS[2]])).remote(10 * 1024 * 1024)
    assert wait_for(lambda: _row(IPS[2]).object_store_used >= 10 * 1024 * 1024, timeout=30)
    del ref  # never fetched here: only node 3 has it, until the driver lets go
    assert wait_for(lambda: _row(IPS[2]).object_store_used == 0, timeout=10)


def test_a_call_without_the_token_is_refused_and_logged(cluster3):
    import _miniray_net
    node = [n for n in miniray.nodes() if n["NodeManagerAddress"] == IPS[1]][0]
    address = f"{IPS[1]}:{node['NodeManagerPort']}"
    for token in ("", "0" * 64):
        client = _miniray_net.NodeServiceClient(address, token)
        with pytest.raises(PermissionError, match="refused: (no|a wrong) cluster token"):
            client.call("SubmitTask", b"", 10.0)
        with pytest.raises(PermissionError):
            client.pull(b"", lambda size: bytearray(size), 10.0)
    log = glob.glob(os.path.join(cluster3["temp_dir"], "session_*", "logs",
                                 f"node_daemon_{IPS[1]}.log"))[0]
    assert wait_for(lambda: "refused: a wrong cluster token" in open(log).read(), timeout=5)


def test_bad_bodies_are_refused_without_harm(cluster3):
    """A caller with the token but a malformed message: an error for it,
    nothing changed on the node, which goes on serving."""
    import _miniray_net
    from miniray._private import cluster as cluster_mod
    node = [n for n in miniray.nodes() if n["NodeManagerAddress"] == IPS[1]][0]
    token = cluster_mod.read(cluster3["sessions"][0], "token")
    client = _miniray_net.NodeServiceClient(f"{IPS[1]}:{node['NodeManagerPort']}", token)
    for method, body in (("SubmitTask", b"\xff\xff\xff"), ("FreeObjects", b"\x0a\x05ab"),
                         ("SubmitTask", b"")):
        with pytest.raises(ValueError):
            client.call(method, body, 10.0)
    with pytest.raises(ValueError, match="object_id must be"):
        client.pull(b"", lambda size: bytearray(size), 10.0)
    # Well-formed bodies that ask for what the node refuses from anyone: the
    # node's own validator says why, before anything is done.
    from _miniray_core import rpc
    import _miniray_core
    job = dict(job_id=b"j" * 4, driver_node_id=bytes.fromhex(cluster3["ids"][IPS[0]]))
    task_id = _miniray_core.task_id_of(_miniray_core.new_object_id())
    bad_task = rpc.TaskSpec(task_id=task_id, function_id=b"f" * 20, num_returns=1,
                            required_resources={"CPU": -1.0})
    with pytest.raises(ValueError, match="CPU"):
        client.call("SubmitTask", rpc.PeerTaskBatch(
            tasks=[rpc.PeerTaskRequest(spec=bad_task, **job)]).serialize(), 10.0)
    bad_group = rpc.CreatePlacementGroupRequest(
        placement_group_id=b"g" * 16, bundles=[rpc.Bundle(resources={"CPU": 1.0})],
        bundle_indices=[0, 1])
    with pytest.raises(ValueError, match="one index per bundle"):
        client.call("CreatePlacementGroup", rpc.PeerPlacementGroupRequest(
            group=bad_group, **job).serialize(), 10.0)
    ids = cluster3["ids"]
    assert miniray.get(node_of.options(scheduling_strategy=on(ids[IPS[1]])).remote()) == \
        ids[IPS[1]]


@miniray.remote
def size_of(a):
    return int(a.size)


@miniray.remote(max_restarts=1, max_task_retries=1)
class Counter:
    def __init__(self, start):
        self.n = start

    def incr(self, k=1):
        self.n += k
        return self.n

    def node(self):
        return miniray.get_runtime_context().get_node_id()


def test_placement_groups_reserve_bundles_across_nodes(cluster3):
    """One CPU per node: a STRICT_SPREAD group of three bundles takes a CPU
    on every node; calls placed in a bundle run on its node; a group that
    does not fit waits (and its calls with it) until the first is removed."""
    from miniray.util.placement_group import (
        placement_group, placement_group_table, remove_placement_group)
    from miniray.util.scheduling_strategies import PlacementGroupSchedulingStrategy as In
    ids = cluster3["ids"]
    pg = placement_group([{"CPU": 1}] * 3, strategy="STRICT_SPREAD")
    assert miniray.get(pg.ready(), timeout=30) is True
    row = placement_group_table(pg)
    assert row["state"] == "CREATED" and row["strategy"] == "STRICT_SPREAD"
    where = row["bundles_to_node_id"]
    assert sorted(where.values()) == sorted(ids.values())
    for i in range(3):
        assert miniray.get(node_of.options(scheduling_strategy=In(pg, i)).remote()) == where[i]
    actor = Counter.options(scheduling_strategy=In(pg, 2), num_cpus=1, max_restarts=0).remote(0)
    assert miniray.get(actor.node.remote()) == where[2]

    # Every CPU is in the group: a PACK group of two waits, and so does a
    # call placed in it; a group that can never fit (four bundles, each on
    # its own node, three nodes) stays pending.
    second = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="PACK")
    assert not second.wait(timeout_seconds=1)
    assert placement_group_table(second)["state"] == "PENDING"
    waiting = node_of.options(scheduling_strategy=In(second, 1)).remote()
    never = placement_group([{"CPU": 1}] * 4, strategy="STRICT_SPREAD")

    remove_placement_group(pg)  # its CPUs come back; what ran in it stops
    assert placement_group_table(pg)["state"] == "REMOVED"
    with pytest.raises(exceptions.RayActorError):
        miniray.get(actor.incr.remote(), timeout=30)
    assert second.wait(timeout_seconds=30)
    where2 = placement_group_table(second)["bundles_to_node_id"]
    assert len(set(where2.values())) == 2  # one CPU per node: on two nodes
    assert miniray.get(waiting, timeout=30) == where2[1]
    assert not never.wait(timeout_seconds=0.5)
    assert placement_group_table(never)["state"] == "PENDING"

    late = node_of.options(scheduling_strategy=In(never)).remote()
    remove_placement_group(never)  # its waiting calls fail
    with pytest.raises(exceptions.TaskUnschedulableError, match="removed"):
        miniray.get(late, timeout=30)
    remove_placement_group(second)
    with pytest.raises(exceptions.TaskUnschedulableError, match="removed"):
        miniray.get(node_of.options(scheduling_strategy=In(second)).remote())
    # Every CPU is back.
    assert wait_for(lambda: all(_row(ip).resources_available.get("CPU") == 1.0 for ip in IPS),
                    timeout=15)


def test_an_actor_lives_on_another_node_in_order(cluster3):
    ids = cluster3["ids"]
    c = Counter.options(scheduling_strategy=on(ids[IPS[1]])).remote(10)
    assert miniray.get(c.node.remote()) == ids[IPS[1]]
    refs = [c.incr.remote(2) for _ in range(50)]  # in order, from this handle
    assert miniray.get(refs) == list(range(12, 112, 2))
    # An argument made on a third node reaches it; its result feeds a task here.
    a = make.options(scheduling_strategy=on(ids[IPS[2]])).remote(10)
    assert miniray.get(c.incr.remote(size_of.remote(a))) == 110 + 10
    miniray.kill(c)
    with pytest.raises(exceptions.ActorDiedError):
        miniray.get(c.incr.remote())


def test_a_named_actor_on_another_node_is_found_by_another_driver(cluster3):
    import subprocess
    import sys
    import textwrap
    from conftest import ENV
    ids = cluster3["ids"]
    c = Counter.options(scheduling_strategy=on(ids[IPS[2]]), name="shared").remote(0)
    assert miniray.get(c.incr.remote()) == 1
    # Nodes report their actors to the GCS with each heartbeat (0.5 s).
    code = textwrap.dedent("""
        import time
        import miniray
        miniray.init(address="auto")
        deadline = time.time() + 15
        while True:
            try:
                h = miniray.get_actor("shared")
                break
            except ValueError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        print(miniray.get(h.incr.remote(5)), miniray.get(h.node.remote()))
    """)
    env = dict(ENV, MINIRAY_TEMP_DIR=cluster3["temp_dir"])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6", ids[IPS[2]]]
    assert miniray.get(c.incr.remote()) == 7


@miniray.remote
def call_counter(counter, k):
    return miniray.get(counter.incr.remote(k)), miniray.get_runtime_context().get_node_id()


@miniray.remote
def call_counter_later(counter, k):
    time.sleep(1.0)  # the driver has dropped its handle by then
    return miniray.get(counter.incr.remote(k))


@miniray.remote
def pass_on(counter, k):
    """Passes the handle on again, to a task on the driver's node."""
    return miniray.get(call_counter.remote(counter, k))


def test_a_handle_of_an_actor_on_another_node_works_in_tasks_on_any_node(cluster3):
    ids = cluster3["ids"]
    c = Counter.options(scheduling_strategy=on(ids[IPS[1]])).remote(0)
    for k, ip in ((1, IPS[0]), (10, IPS[2]), (100, IPS[1])):  # here, a third node, its own
        assert miniray.get(call_counter.options(scheduling_strategy=on(ids[ip])).remote(c, k),
                           timeout=30)[1] == ids[ip]
    assert miniray.get(c.incr.remote()) == 112  # the calls reached the one actor
    # A task on node 3 passes it on to a task it submits there.
    assert miniray.get(pass_on.options(scheduling_strategy=on(ids[IPS[2]])).remote(c, 1000),
                       timeout=30) == (1112, ids[IPS[2]])
    # A handle passed without the driver keeping one (the actor lives on).
    ref = call_counter_later.remote(
        Counter.options(scheduling_strategy=on(ids[IPS[2]])).remote(5), 1)
    assert miniray.get(ref, timeout=30) == 6
    miniray.kill(c)
    with pytest.raises(exceptions.RayActorError):
        miniray.get(call_counter.remote(c, 1), timeout=30)


def test_output_of_workers_on_other_nodes_reaches_the_driver_with_their_ip(cluster3):
    """Ray's "(name pid=N, ip=IP) line": tasks and actors on nodes 2 and 3
    print, the driver (another process, which then exits at once) shows
    their lines; with log_to_driver=False it shows none."""
    import subprocess
    import sys
    import textwrap
    from conftest import ENV
    ids = cluster3["ids"]
    code = textwrap.dedent(f"""
        import sys
        import miniray
        from miniray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On
        miniray.init(address="auto", log_to_driver=sys.argv[1] == "on")

        @miniray.remote
        def shout(word):
            print("out:" + word, flush=True)
            print("err:" + word, file=sys.stderr, flush=True)
            return word

        @miniray.remote
        class Talker:
            def talk(self):
                print("actor says hi", flush=True)

        assert miniray.get(shout.options(scheduling_strategy=On("{ids[IPS[1]]}", False))
                           .remote("two")) == "two"
        t = Talker.options(scheduling_strategy=On("{ids[IPS[2]]}", False)).remote()
        miniray.get(t.talk.remote())
    """)
    env = dict(ENV, MINIRAY_TEMP_DIR=cluster3["temp_dir"])
    on = subprocess.run([sys.executable, "-c", code, "on"], env=env, capture_output=True,
                        text=True, timeout=60)
    assert on.returncode == 0, on.stderr
    out = [line for line in on.stdout.splitlines() if "out:" in line or "says" in line]
    err = [line for line in on.stderr.splitlines() if "err:" in line]
    assert len(out) == 2 and len(err) == 1, (on.stdout, on.stderr)
    assert out[0].startswith("(shout pid=") and out[0].endswith(", ip=127.0.0.2) out:two")
    assert err[0].startswith("(shout pid=") and err[0].endswith(", ip=127.0.0.2) err:two")
    assert out[1].startswith("(Talker pid=") and out[1].endswith(", ip=127.0.0.3) actor says hi")
    off = subprocess.run([sys.executable, "-c", code, "off"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert off.returncode == 0, off.stderr
    assert "two" not in off.stdout + off.stderr and "says" not in off.stdout


def test_a_killed_driver_s_work_on_other_nodes_ends(cluster3):
    """kill -9 of a driver: its node marks its job dead in the GCS, and the
    other nodes end what they ran for it (tasks, workers)."""
    import subprocess
    import sys
    import textwrap
    from conftest import ENV
    node2 = cluster3["ids"][IPS[1]]
    assert wait_for(lambda: _row(IPS[1]).num_pending_tasks == 0, timeout=10)
    code = textwrap.dedent(f"""
        import time
        import miniray
        from miniray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        miniray.init(address="auto")

        @miniray.remote
        def sleepy():
            time.sleep(120)

        on2 = NodeAffinitySchedulingStrategy("{node2}", soft=False)
        refs = [sleepy.options(scheduling_strategy=on2).remote() for _ in range(2)]
        miniray.wait(refs, timeout=0.5)  # sent (and fetched, were they done)
        print("submitted", flush=True)
        time.sleep(120)
    """)
    env = dict(ENV, MINIRAY_TEMP_DIR=cluster3["temp_dir"])
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "submitted"
        assert wait_for(lambda: _row(IPS[1]).num_pending_tasks == 2, timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert wait_for(lambda: _row(IPS[1]).num_pending_tasks == 0, timeout=15), \
        _row(IPS[1]).num_pending_tasks


@miniray.remote
def slow_node_of(seconds):
    time.sleep(seconds)
    return miniray.get_runtime_context().get_node_id()


def test_a_node_killed_during_a_job_its_tasks_finish_elsewhere(cluster3):
    """Runs last: node 3 dies (SIGKILL) while tasks run there. Tasks with
    retries run again on another node; one without fails naming the node;
    the GCS marks the node dead."""
    ids = cluster3["ids"]
    node3 = ids[IPS[2]]
    # Node 3 has one CPU: the tasks queue there (3 s each); the actor takes
    # no CPU, so it runs beside them.
    # A placement group's bundle there too (put there first: it fits), and
    # a task in it.
    from miniray.util.placement_group import (
        placement_group, placement_group_table, remove_placement_group)
    from miniray.util.scheduling_strategies import PlacementGroupSchedulingStrategy as In
    pg = placement_group([{"CPU": 0.01}], _soft_target_node_id=node3)
    assert miniray.get(pg.ready(), timeout=30)
    assert placement_group_table(pg)["bundles_to_node_id"][0] == node3
    in_group = slow_node_of.options(scheduling_strategy=In(pg, 0), num_cpus=0.01).remote(3)
    retried = [slow_node_of.options(scheduling_strategy=on(node3, soft=True)).remote(3)
               for _ in range(2)]
    lost = slow_node_of.options(scheduling_strategy=on(node3, soft=True),
                                max_retries=0).remote(3)
    assert wait_for(lambda: _row(IPS[2]).num_pending_tasks >= 3, timeout=15)
    actor = Counter.options(scheduling_strategy=on(node3, soft=True), num_cpus=0).remote(100)
    assert miniray.get(actor.incr.remote()) == 101
    info_path = glob.glob(os.path.join(cluster3["temp_dir"], "session_*",
                                       f"node_{IPS[2]}.json"))[0]
    with open(info_path) as f:
        os.kill(json.load(f)["pid"], signal.SIGKILL)
    results = miniray.get(retried, timeout=60)
    assert all(r in (ids[IPS[0]], ids[IPS[1]]) for r in results)
    # The bundle is placed again on a live node (RESCHEDULING, then
    # CREATED), and the task in it runs there.
    assert miniray.get(in_group, timeout=60) in (ids[IPS[0]], ids[IPS[1]])
    row = placement_group_table(pg)
    assert row["state"] == "CREATED" and row["bundles_to_node_id"][0] != node3
    remove_placement_group(pg)
    with pytest.raises(exceptions.ObjectLostError, match=rf"{IPS[2]}.*no retries left"):
        miniray.get(lost, timeout=60)
    # The actor is made again on another node (max_restarts=1), its state
    # new; the call is sent to it again (max_task_retries=1).
    assert miniray.get(actor.incr.remote(5), timeout=60) == 105
    assert miniray.get(actor.node.remote()) in (ids[IPS[0]], ids[IPS[1]])
    # The head declares it dead (missed heartbeats); the others go on.
    assert wait_for(lambda: [n["Alive"] for n in miniray.nodes()
                             if n["NodeManagerAddress"] == IPS[2]] == [False], timeout=15)
    assert miniray.get(node_of.options(scheduling_strategy="SPREAD").remote()) != node3



def test_a_node_cut_off_is_declared_dead_and_stops_when_it_comes_back(cluster3):
    """Runs after node 3's death: node 2's daemon stops answering (SIGSTOP:
    to the others it is cut off). The head declares it dead within its
    --node-timeout-ms; the task running there runs again on the driver's
    node (it has retries); when node 2 answers again the GCS tells it it is
    dead, and it stops, its workers with it."""
    ids = cluster3["ids"]
    ref = slow_node_of.options(scheduling_strategy=on(ids[IPS[1]], soft=True)).remote(2)
    assert wait_for(lambda: _row(IPS[1]).num_pending_tasks >= 1, timeout=15)
    info_path = glob.glob(os.path.join(cluster3["temp_dir"], "session_*",
                                       f"node_{IPS[1]}.json"))[0]
    with open(info_path) as f:
        pid = json.load(f)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        assert miniray.get(ref, timeout=60) == ids[IPS[0]]
        assert [n["Alive"] for n in miniray.nodes() if n["NodeManagerAddress"] == IPS[1]] == \
            [False]
    finally:
        os.kill(pid, signal.SIGCONT)
    assert wait_for(lambda: not session_processes(cluster3["sessions"][1]), timeout=20)
    assert miniray.get(node_of.options(scheduling_strategy="SPREAD").remote()) == ids[IPS[0]]
