"""The DAG API (as ray.dag): bind() builds a graph, execute() runs it."""
import pytest

import miniray
from miniray.dag import InputNode, MultiOutputNode


@miniray.remote
def add(a, b):
    return a + b


@miniray.remote
def double(x):
    return 2 * x


@miniray.remote
class Accumulator:
    def __init__(self, start):
        self.total = start

    def add(self, x):
        self.total += x
        return self.total


def test_functions_bound_into_a_graph_run_with_execute(ray_shared):
    with InputNode() as inp:
        dag = add.bind(double.bind(inp[0]), inp[1])
    assert miniray.get(dag.execute(2, 3)) == 7
    assert miniray.get(dag.execute(10, 1)) == 21  # the same graph, again

    with InputNode() as inp:
        single = double.options(num_cpus=1).bind(inp)
    assert miniray.get(single.execute(4)) == 8
    with InputNode() as inp:
        by_name = add.bind(inp.x, inp.y)
    assert miniray.get(by_name.execute(x=1, y=2)) == 3
    assert miniray.get(add.bind(1, 2).execute()) == 3  # no input at all


def test_a_shared_node_runs_once_per_execution(ray_shared, tmp_path):
    marker = tmp_path / "runs"

    @miniray.remote
    def counted(x):
        with open(marker, "a") as f:
            f.write("x")
        return x

    with InputNode() as inp:
        shared = counted.bind(inp)
        dag = MultiOutputNode([add.bind(shared, 1), add.bind(shared, 2), shared])
    refs = dag.execute(5)
    assert isinstance(refs, list) and miniray.get(refs) == [6, 7, 5]
    assert marker.read_text() == "x"


def test_actor_classes_and_methods_bind(ray_shared):
    with InputNode() as inp:
        acc = Accumulator.bind(100)
        first = acc.add.bind(inp)
        dag = acc.add.bind(first)  # the same actor: 100+1 -> 101, then 101+101
    assert miniray.get(dag.execute(1)) == 202
    assert miniray.get(dag.execute(1)) == 202  # a new actor per execution

    live = Accumulator.remote(0)
    with InputNode() as inp:
        on_live = live.add.bind(inp)
    assert miniray.get([on_live.execute(1), on_live.execute(2)]) == [1, 3]
    with InputNode() as inp:
        lists = double.bind([inp, {"k": inp}])  # nodes inside containers are resolved too
    assert miniray.get(lists.execute(3)) == [3, {"k": 3}, 3, {"k": 3}]


def test_bad_inputs_are_clear_errors(ray_shared):
    with InputNode() as inp:
        dag = double.bind(inp)
    with pytest.raises(ValueError, match="exactly one argument"):
        dag.execute(1, 2)
    with InputNode() as inp:
        dag = add.bind(inp[0], inp[5])
    with pytest.raises(ValueError, match="reads input 5"):
        dag.execute(1, 2)
