"""Batch processing: many tasks in flight, results collected as they finish
with wait(), and a large numpy array shared with every task (stored once,
read by each task without a copy)."""
import time

import numpy as np

import miniray as ray


@ray.remote
def score(weights, batch_id):
    rng = np.random.default_rng(batch_id)
    batch = rng.standard_normal((1000, weights.shape[0]))
    return batch_id, float((batch @ weights).mean())


def main():
    ray.init(num_cpus=2)
    weights = ray.put(np.random.default_rng(0).standard_normal(512))
    pending = [score.remote(weights, i) for i in range(200)]
    done = 0
    start = time.time()
    while pending:
        ready, pending = ray.wait(pending, num_returns=min(20, len(pending)))
        done += len(ready)
        print(f"{done:4d} batches done, last result {ray.get(ready[-1])}")
    print(f"200 batches in {time.time() - start:.2f} s")
    ray.shutdown()


if __name__ == "__main__":
    main()
