"""A cluster on this machine: session directories, the token, the address.

`miniray start --head` makes a session directory (Ray's layout):

    <temp dir>/session_<date>_<time>_<pid>/   (0700)
        address         "IP:PORT": the cluster's address (its Redis, the GCS)
        token           the cluster token (0600): Redis's password
        node_<IP>.json  a node daemon of this machine: pid, node id, socket
        logs/           the daemon's and Redis's logs, and each worker's
                        stdout and stderr (worker-<id>-<job>-<pid>.out/.err)
    <temp dir>/session_latest -> the newest session

A plain miniray.init() makes a session directory too, with an `embedded`
file (the driver's pid) and a node file for its embedded node, so that the
CLI and the state API find a running program as they find a cluster.

The temp dir is /tmp/miniray unless MINIRAY_TEMP_DIR (or --temp-dir, or
init(_temp_dir=...)) says otherwise. Drivers and the CLI find a cluster's
token here: a process that can read it may use the cluster.
"""
import datetime
import json
import os
import secrets
import socket
from typing import List, Optional, Tuple

DEFAULT_PORT = 6379  # Ray's GCS port


def temp_dir(given: Optional[str] = None) -> str:
    return os.path.abspath(given or os.environ.get("MINIRAY_TEMP_DIR") or "/tmp/miniray")


EMBEDDED_SESSIONS_KEPT = 10


def new_session(given_temp_dir: Optional[str] = None, embedded: bool = False) -> str:
    """Creates a session directory (with its token) and points
    session_latest at it. An embedded node's session (a plain init(); it
    holds its workers' logs) leaves session_latest alone, so that
    init(address="auto") still finds the cluster started here; older
    embedded sessions whose driver has exited are removed past the newest
    EMBEDDED_SESSIONS_KEPT."""
    root = temp_dir(given_temp_dir)
    os.makedirs(root, exist_ok=True)
    if embedded:
        _prune_embedded_sessions(root)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
    session = os.path.join(root, f"session_{stamp}_{os.getpid()}")
    os.makedirs(session, mode=0o700)
    os.makedirs(os.path.join(session, "logs"), mode=0o700)
    fd = os.open(os.path.join(session, "token"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    if embedded:
        with open(os.path.join(session, "embedded"), "w") as f:
            f.write(str(os.getpid()))  # whose session it is
        return session
    latest = os.path.join(root, "session_latest")
    tmp_link = latest + f".{os.getpid()}"
    os.symlink(session, tmp_link)
    os.replace(tmp_link, latest)
    return session


def _prune_embedded_sessions(root: str) -> None:
    import shutil
    embedded = [x for x in sessions(root) if read(x, "embedded") is not None]
    for session in embedded[EMBEDDED_SESSIONS_KEPT:]:
        if not _pid_alive(read(session, "embedded")):
            shutil.rmtree(session, ignore_errors=True)


def _pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def find_local_runtime(given_temp_dir: Optional[str] = None,
                       address: Optional[str] = None) -> Tuple[str, dict]:
    """(session_dir, node file) of the newest live miniray runtime on this
    machine: a node daemon, or the embedded node of a running init() (as
    `ray status` finds a local ray.init()). With `address`, a node of the
    cluster at that address."""
    for session in sessions(given_temp_dir):
        if address is not None and read(session, "address") != address:
            continue
        for info in sorted(node_files(session), key=lambda i: not i.get("head")):
            if _pid_alive(info.get("pid")) and _socket_exists(info.get("socket_name", "")):
                return session, info
    where = f"of the cluster at {address} " if address else ""
    raise ConnectionError(
        f"Could not find a running miniray runtime {where}on this machine (under "
        f"{temp_dir(given_temp_dir)}). Start one with miniray.init() in a program or "
        "`miniray start --head`.")


def sessions(given_temp_dir: Optional[str] = None) -> List[str]:
    """Every session directory under the temp dir, newest first."""
    root = temp_dir(given_temp_dir)
    try:
        names = [n for n in os.listdir(root) if n.startswith("session_") and n != "session_latest"]
    except FileNotFoundError:
        return []
    paths = [os.path.join(root, n) for n in names if os.path.isdir(os.path.join(root, n))]
    return sorted(paths, key=os.path.getmtime, reverse=True)


def read(session: str, name: str) -> Optional[str]:
    try:
        with open(os.path.join(session, name)) as f:
            return f.read().strip()
    except OSError:
        return None


def parse_address(address: str) -> Tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"address must be HOST:PORT, got {address!r}")
    return host, int(port)


def resolve_address(address: Optional[str], given_temp_dir: Optional[str] = None) -> str:
    """The cluster address for init(address=...) and the CLI: "auto" (or
    None) means $MINIRAY_ADDRESS, $RAY_ADDRESS, or the newest session here."""
    if address in (None, "auto"):
        env = os.environ.get("MINIRAY_ADDRESS") or os.environ.get("RAY_ADDRESS")
        if env and env not in ("auto", "local"):
            return env
        latest = os.path.join(temp_dir(given_temp_dir), "session_latest")
        found = read(latest, "address")
        if not found:
            raise ConnectionError(
                "Could not find any running miniray cluster on this machine (no "
                f"{latest}/address). Start one with `miniray start --head`, or give "
                "its address: init(address='IP:PORT').")
        return found
    parse_address(address)
    return address


def token_for(address: str, given_temp_dir: Optional[str] = None) -> Optional[str]:
    """The token of the cluster at `address`: $MINIRAY_TOKEN, or the token
    file of the session here whose address it is."""
    env = os.environ.get("MINIRAY_TOKEN")
    if env:
        return env
    for session in sessions(given_temp_dir):
        if read(session, "address") == address:
            return read(session, "token")
    return None


def connect_gcs(address: str, given_temp_dir: Optional[str] = None, timeout_ms: int = 3000):
    """A GcsClient for the cluster at `address`, with a clear error when
    nothing is there or the token is missing or wrong."""
    import _miniray_core

    from miniray import exceptions
    host, port = parse_address(address)
    token = token_for(address, given_temp_dir)
    if token is None:
        raise ConnectionError(
            f"No token for the miniray cluster at {address}: no session directory under "
            f"{temp_dir(given_temp_dir)} has that address. Set MINIRAY_TOKEN to the cluster's "
            "token (the `token` file of its session directory on the head).")
    try:
        return _miniray_core.GcsClient(host, port, token, timeout_ms)
    except (ConnectionError, exceptions.RaySystemError) as e:
        raise ConnectionError(f"Could not connect to the miniray cluster at {address}: {e}. "
                              "Is `miniray start --head` running there?") from None
    except ValueError as e:
        raise ConnectionError(f"The miniray cluster at {address} refused this token: {e}") \
            from None


def local_node(gcs, address: str):
    """The alive node of the cluster that runs on this machine (its daemon
    is what a driver here attaches to)."""
    host = parse_address(address)[0]
    hostname = socket.gethostname()
    alive = [n for n in gcs.nodes() if n.alive]
    # The head when the address names this machine, else any node here.
    for node in sorted(alive, key=lambda n: (n.node_manager_address != host, not n.is_head)):
        if node.node_manager_hostname == hostname and _socket_exists(node.socket_name):
            return node
    raise ConnectionError(f"The miniray cluster at {address} has no live node on this machine "
                          f"({hostname}): start one with `miniray start --address={address}`.")


def _socket_exists(name: str) -> bool:
    """Whether an abstract Unix socket of that name is listening."""
    try:
        with open("/proc/net/unix") as f:
            return any(line.rstrip().endswith("@" + name) for line in f)
    except OSError:
        return True


def write_node_file(session: str, ip: str, info: dict) -> None:
    path = os.path.join(session, f"node_{ip}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)


def node_files(session: str) -> List[dict]:
    out = []
    try:
        names = os.listdir(session)
    except OSError:
        return out
    for name in names:
        if name.startswith("node_") and name.endswith(".json"):
            try:
                with open(os.path.join(session, name)) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                pass
    return out
