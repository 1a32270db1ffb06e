"""A typed miniray program, for tools/check_types.sh: mypy and pyright must
accept every line except those marked `# planted:`, and report each of
those. It also runs (the planted lines never execute)."""
from typing import TYPE_CHECKING, List

import miniray


@miniray.remote
def add(a: int, b: int) -> int:
    return a + b


@miniray.remote
def greet(name: str) -> str:
    return "hello " + name


@miniray.remote(num_cpus=1, max_retries=0)
def total(xs: List[int]) -> int:
    return sum(xs)


class Counter:
    def __init__(self, start: int) -> None:
        self.n = start

    def incr(self) -> int:
        self.n += 1
        return self.n


# mypy ignores what a class decorator returns (python/mypy#3135), so typed
# code makes the actor class with a call, as Ray's documentation advises
# (`@miniray.remote` on the class works too, for pyright and at run time).
CounterActor = miniray.remote(Counter)


def main() -> None:
    miniray.init(num_cpus=2)
    ref: miniray.ObjectRef[int] = add.remote(1, 2)
    three: int = miniray.get(ref)
    seven: int = miniray.get(add.remote(ref, 4))  # an ObjectRef stands for its value
    sums: List[int] = miniray.get([add.remote(i, i) for i in range(3)])
    word: str = miniray.get(greet.options(name="greeting").remote("typed"))
    n: int = miniray.get(total.remote([1, 2, 3]))
    stored: miniray.ObjectRef[str] = miniray.put("stored")
    ready, _ = miniray.wait([ref, add.remote(0, 0)], num_returns=2)
    counter: miniray.actor.ActorHandle[Counter] = CounterActor.remote(0)
    count = miniray.get(counter.incr.remote())
    assert (three, seven, sums, word, n) == (3, 7, [0, 2, 4], "hello typed", 6)
    assert miniray.get(stored) == "stored" and len(ready) == 2 and count == 1
    miniray.shutdown()
    print("typed program: ok")

    if TYPE_CHECKING:  # what the checkers must catch; never run
        add.remote("one", 2)  # planted: wrong argument type
        text: str = miniray.get(add.remote(1, 2))  # planted: wrong result type
        print(text)


if __name__ == "__main__":
    main()
