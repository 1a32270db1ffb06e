"""The per-process state of miniray: one `Worker` object, `global_worker`.

In the driver it holds the embedded node and the driver's CoreWorker; in a
worker process, that process's CoreWorker and the actor it hosts. Kept apart
from worker.py (the API) so that ObjectRef and the other low modules can
reach the CoreWorker without importing the API module.
"""
import contextvars
import threading
from typing import Any, Dict, List, Optional

DRIVER = "driver"
WORKER = "worker"

# The task being run (worker mode): a context variable, not a field, since
# threaded and async actors run several calls at once.
_current_task: contextvars.ContextVar = contextvars.ContextVar(
    "miniray_current_task", default=(None, None, (), None, None))


class Worker:
    """Everything this process knows about its miniray session."""

    def __init__(self):
        self.mode: Optional[str] = None
        self.core = None  # _miniray_core.CoreWorker
        self.node = None  # _miniray_core.NodeRuntime (a driver's embedded node)
        self.cluster = None  # worker.ClusterInfo (a driver attached to a cluster)
        # cluster_router.ClusterRouter: an attached driver's tasks on other nodes
        self.router: Any = None
        self.job_config: Any = None  # an attached driver's rpc.JobConfig
        self.session_dir: Optional[str] = None  # a driver's session directory
        self.log_monitor: Any = None  # a driver's log_monitor.LogMonitor
        self.dashboard: Any = None  # a driver's dashboard.server.Dashboard
        self.lock = threading.RLock()
        self.namespace = "default"
        self.job_runtime_env: Dict[str, Any] = {}
        self.exported_functions: set = set()
        self.function_cache: Dict[bytes, Any] = {}
        # The actor this worker process hosts (worker mode).
        self.actor_id: Optional[bytes] = None
        self.actor_instance: Any = None
        self.actor_creation: Any = None  # its rpc.ActorCreationTaskSpec
        self.actor_capture_group: Optional[bytes] = None  # see current_capture_group
        # Worker mode: marks this process's log files with the running task's
        # or actor's name (worker_main.LogNames), for the driver's prefixes.
        self.log_names: Any = None

    @property
    def current_task_id(self) -> Optional[bytes]:
        return _current_task.get()[0]

    @property
    def current_task_name(self) -> Optional[str]:
        return _current_task.get()[1]

    @property
    def current_gpu_ids(self) -> List[int]:
        return list(_current_task.get()[2])

    @property
    def current_task_spec(self) -> Any:
        """The running task's rpc.TaskSpec (read only when asked about)."""
        return _current_task.get()[3]

    @property
    def current_capture_group(self) -> Optional[bytes]:
        """The placement group id the running task (or this actor) captures
        its child tasks in, if any."""
        return _current_task.get()[4] or self.actor_capture_group

    def set_current_task(self, task_id: Optional[bytes] = None, name: Optional[str] = None,
                         gpu_ids=(), spec: Any = None, capture_group: Optional[bytes] = None
                         ) -> None:
        _current_task.set((task_id, name, tuple(gpu_ids), spec, capture_group))

    @property
    def connected(self) -> bool:
        return self.core is not None

    def reset(self):
        self.mode = None
        self.core = None
        self.node = None
        self.cluster = None
        self.router = None
        self.job_config = None
        self.session_dir = None
        self.log_monitor = None
        self.dashboard = None
        self.exported_functions = set()
        self.function_cache = {}
        self.job_runtime_env = {}


global_worker = Worker()
