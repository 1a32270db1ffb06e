"""A drop-in for multiprocessing.Pool that runs on miniray (as
ray.util.multiprocessing): `from miniray.util.multiprocessing import Pool`."""
from multiprocessing import TimeoutError

from miniray.util.multiprocessing.pool import AsyncResult, Pool

__all__ = ["AsyncResult", "Pool", "TimeoutError"]
