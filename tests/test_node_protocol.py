"""The node protocol seen from outside: clients that speak it by hand over
the node's socket, and the rpc messages as Python sees them."""
import os
import socket
import struct

import pytest
from _miniray_core import rpc

import miniray
from miniray._private.worker import global_worker


def _connect(register=True):
    """A raw client of the node; registered as a driver unless told not to."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0" + global_worker.node.socket_name)
    if register:
        s.sendall(rpc.frame(rpc.ClientMessage(register_client=rpc.RegisterClientRequest(
            worker_id=os.urandom(16), kind=rpc.ClientKind.DRIVER))))
        reply, fds = _read_frame(s, with_fds=True)
        assert reply.which("body") == "register_reply"
        for fd in fds:
            os.close(fd)
    return s


def _read_frame(s, with_fds=False):
    fds = []
    if with_fds:  # the registration reply carries the arena's fd
        header, fds, _, _ = socket.recv_fds(s, 4, 1, socket.MSG_WAITALL)
    else:
        header = s.recv(4, socket.MSG_WAITALL)
    (size,) = struct.unpack("<I", header)
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        assert chunk, "connection closed mid-frame"
        data += chunk
    message = rpc.parse("NodeMessage", data)
    return (message, fds) if with_fds else message


def test_a_client_that_stops_reading_does_not_hold_back_tasks(ray_start):
    global_worker.core.kv_put("stall:big", b"x" * (256 << 10), True)
    stalled = _connect()
    ask = rpc.frame(rpc.ClientMessage(request_id=1, kv_get=rpc.KvGetRequest(key="stall:big")))
    stalled.sendall(ask * 100)  # 25 MiB of answers that it does not read

    @miniray.remote
    def square(i):
        return i * i

    assert sum(miniray.get([square.remote(i) for i in range(1000)])) == \
        sum(i * i for i in range(1000))
    # Still connected: reading now gets the first answer.
    reply = _read_frame(stalled)
    assert reply.request_id == 1
    assert reply.kv_get_reply.found and len(reply.kv_get_reply.value) == 256 << 10
    stalled.close()


def test_a_malformed_frame_closes_only_that_connection(ray_start):
    bad = _connect(register=False)
    bad.sendall(struct.pack("<I", 5) + b"\xff" * 5)
    assert bad.recv(1) == b""  # the node closed it
    bad.close()

    @miniray.remote
    def one():
        return 1

    assert miniray.get(one.remote()) == 1


def test_messages_have_named_fields_and_clear_errors():
    spec = rpc.TaskSpec(name="f", num_returns=2, required_resources={"CPU": 1.0})
    spec.max_retries = 3
    spec.actor_creation_task_spec.max_concurrency = 4  # a nested message is a live view
    assert (spec.name, spec.num_returns, spec.max_retries) == ("f", 2, 3)
    assert spec.required_resources == {"CPU": 1.0}
    assert spec.actor_creation_task_spec.max_concurrency == 4
    assert rpc.parse("TaskSpec", spec.serialize()) == spec
    value = rpc.ObjectValue(object_id=b"\x01" * 20, error={"type": rpc.ErrorType.ACTOR_DIED})
    assert value.which("value") == "error"
    assert value.error.type == rpc.ErrorType.ACTOR_DIED
    with pytest.raises(AttributeError, match="TaskSpec has no field 'nmae'"):
        spec.nmae = "f"
    with pytest.raises(AttributeError, match="TaskSpec has no field 'nmae'"):
        spec.nmae
    with pytest.raises(TypeError, match="TaskSpec.name must be str"):
        spec.name = b"f"
    with pytest.raises(ValueError, match="TaskSpec.num_returns .* out of range"):
        spec.num_returns = 2 ** 32
    with pytest.raises(ValueError, match="not a TaskType"):
        spec.type = 99
    with pytest.raises(TypeError, match="by name"):
        rpc.TaskSpec("f")
