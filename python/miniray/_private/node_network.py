"""Nodes talking to each other over gRPC (NodeService, protobuf/node_service.proto):
what both sides share. The node's side is peer_service.py, the driver's
cluster_router.py.

Two halves, after Ray's design (the owner of a task decides where it runs
and keeps its lineage; objects stay where they were made until someone
needs them):

- `PeerService` runs in every node daemon: it serves NodeService on the
  node's --node-ip-address. Another node's driver sends it tasks
  (SubmitTask): it runs them here for that driver's job through a client of
  its own node (one per remote job, as an attached driver would be), after
  pulling the arguments that live elsewhere; it keeps their returns until
  the driver frees them (FreeObjects), and serves any object of this node
  to whoever pulls it (PullObject), waiting for it to be made.

- `ClusterRouter` runs in an attached driver: it places each task
  (`scheduling_strategy="SPREAD"`, `NodeAffinitySchedulingStrategy`, a
  task that does not fit on this node at all, spillback when this node has
  no room, the node that made its arguments, a placement group's bundle),
  places placement groups' bundles on the nodes, sends the tasks for other
  nodes from one sender thread per node, and gives the driver placeholders
  for their returns in its own node's object table (`expect_object`), so
  that get, wait and local tasks that take them work as for local objects.
  An object is pulled into this node when someone here needs it (get,
  wait, a local task's argument); a task on a third node pulls it from
  where it is. When the node holding a result or running a task dies (or
  the cluster declares it dead), the task is submitted again elsewhere
  while it has retries left (Ray's lineage reconstruction), otherwise its
  returns hold ObjectLostError naming the object and the node. A worker
  that is passed the handle of an actor on another node gets a router of
  its own, for calls to such actors only.

Not yet across nodes (they run on the driver's node): generator tasks and
tasks whose arguments contain ObjectRefs nested inside other values.
"""
import threading
import time
from typing import Any, Dict

import _miniray_core
from _miniray_core import rpc

from miniray._private import serialization

ID_SIZE = len(_miniray_core.new_object_id())
ACTOR_ID_SIZE = 16
NODE_ID_SIZE = 16
PG_ID_SIZE = 16
PULL_TIMEOUT_S = 3600.0  # how long a server waits for an object to be made
CALL_TIMEOUT_S = 120.0   # a SubmitTask pulls the task's arguments first
MAX_BATCH = 256  # tasks in one SubmitTask call, objects in one GetObjects call
INLINE_REPLY_BYTES = serialization.INLINE_LIMIT  # larger: streamed into shared memory


def _net():
    """The gRPC extension, loaded on first use (see node_service.proto)."""
    import _miniray_net
    return _miniray_net


class NodeClients:
    """NodeService clients by node address ("IP:PORT"), one per node, made
    on first use and kept (each holds its gRPC channel)."""

    def __init__(self, token: str):
        self._token = token
        self._lock = threading.Lock()
        self._clients: Dict[str, Any] = {}

    def get(self, address: str):
        with self._lock:
            client = self._clients.get(address)
            if client is None:
                client = self._clients[address] = _net().NodeServiceClient(address, self._token)
            return client


def pull_into(core, client, object_id: bytes, local_id: bytes, timeout_s: float) -> None:
    """Pulls `object_id` from the node of `client` and stores it here under
    `local_id` with one owned reference of `core` (the caller drops it when
    done): in shared memory, or inline when small; an error the object
    holds is stored as that error."""
    held: Dict[str, Any] = {}

    def allocate(size):
        if size <= serialization.INLINE_LIMIT:
            held["inline"] = bytearray(size)
            return held["inline"]
        held["shared"] = core.create(local_id, size)
        return held["shared"]

    body = rpc.PullObjectRequest(object_id=object_id, timeout_s=timeout_s).serialize()
    error = client.pull(body, allocate, -1.0)
    if error is not None:
        exc = serialization.error_to_exception(rpc.parse("ObjectError", error))
        store_error(core, local_id, exc)
    elif "inline" in held:
        core.put_inline(local_id, bytes(held.pop("inline")), [])
    else:
        held.clear()  # the Buffer: written, now let go before sealing
        core.seal(local_id, [])


def store_bytes(core, local_id: bytes, data: memoryview) -> None:
    """Stores a serialized value under `local_id` (one owned reference of
    `core`): inline when small, else in shared memory."""
    if len(data) <= serialization.INLINE_LIMIT:
        core.put_inline(local_id, bytes(data), [])
        return
    buf = core.create(local_id, len(data))
    memoryview(buf)[:] = data
    del buf
    core.seal(local_id, [])


def store_error(core, local_id: bytes, exc: BaseException) -> None:
    """Stores `exc` as the value of `local_id` (get raises it)."""
    data = serialization.serialize(exc, serialization.TASK_ERROR).to_bytes()
    core.put_inline(local_id, data, [])


def reserve_group(core, group, wait_s: float):
    """Asks `core`'s node for a part of a placement group (a
    CreatePlacementGroupRequest with its bundle_indices) and waits up to
    `wait_s` for it to be reserved: the part's PlacementGroupInfo (its
    state says whether it is)."""
    core.create_placement_group(group)
    deadline = time.monotonic() + min(max(wait_s, 0.0), 10.0)
    while True:
        row = next((r for r in core.placement_group_table().groups
                    if r.placement_group_id == group.placement_group_id), None)
        if row is None:
            raise ValueError("the node did not keep the placement group (its id is taken)")
        if int(row.state) != 0 or time.monotonic() >= deadline:  # not PENDING
            return row
        time.sleep(0.001)  # the node reserves it in its next scheduling pass


def _check_id(value: bytes, what: str, size: int = 0) -> None:
    size = size or ID_SIZE
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(value)}")
