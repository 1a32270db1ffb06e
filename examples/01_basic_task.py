"""The smallest miniray program: a remote function, called and awaited."""
import miniray as ray


@ray.remote
def add(a, b):
    return a + b


def main():
    ray.init(num_cpus=2)
    print("add.remote(1, 2) ->", ray.get(add.remote(1, 2)))
    refs = [add.remote(i, i) for i in range(100)]
    print("sum of 100 tasks ->", sum(ray.get(refs)))
    ray.shutdown()


if __name__ == "__main__":
    main()
