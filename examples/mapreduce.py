"""Word count with map and reduce tasks over the Python standard library's
own .py files.

Each map task reads a chunk of files, counts words and splits the counts
into one partition per reducer (num_returns=R); each reduce task receives
its partition from every mapper as ObjectRef arguments (resolved before it
runs) and merges them.
"""
import collections
import glob
import os
import re
import sys
import time
import zlib

import miniray as ray

NUM_MAPPERS = 8
NUM_REDUCERS = 4
WORD = re.compile(r"[A-Za-z_]+")


@ray.remote(num_returns=NUM_REDUCERS)
def map_words(paths):
    partitions = [collections.Counter() for _ in range(NUM_REDUCERS)]
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="ignore") as f:
                text = f.read()
        except OSError:
            continue
        for word in WORD.findall(text):
            word = word.lower()
            # A stable hash: str hashes differ between processes.
            partitions[zlib.crc32(word.encode()) % NUM_REDUCERS][word] += 1
    return partitions


@ray.remote
def reduce_words(*partitions):
    total = collections.Counter()
    for p in partitions:
        total.update(p)
    return total


def main(root=None):
    """Counts words under `root` (default: the standard library)."""
    root = root or os.path.dirname(os.__file__)
    paths = sorted(p for p in glob.glob(os.path.join(root, "**", "*.py"), recursive=True)
                   if "site-packages" not in p)
    start = time.time()
    ray.init(num_cpus=2)
    chunks = [paths[i::NUM_MAPPERS] for i in range(NUM_MAPPERS)]
    map_outputs = [map_words.remote(chunk) for chunk in chunks]
    reducers = [reduce_words.remote(*[out[r] for out in map_outputs])
                for r in range(NUM_REDUCERS)]
    counts = collections.Counter()
    for c in ray.get(reducers):
        counts.update(c)
    elapsed = time.time() - start
    print(f"Counted {sum(counts.values()):,} words ({len(counts):,} distinct) "
          f"in {len(paths):,} files under {root}")
    for word, n in counts.most_common(10):
        print(f"  {word:<12} {n:>8,}")
    print(f"map/reduce time: {elapsed:.2f} s "
          f"({NUM_MAPPERS} map tasks, {NUM_REDUCERS} reduce tasks)")
    ray.shutdown()
    return counts


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1] if len(sys.argv) > 1 else None) else 1)
