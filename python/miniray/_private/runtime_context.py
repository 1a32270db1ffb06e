"""RuntimeContext: what get_runtime_context() tells a driver or task."""
from typing import Dict, List, Optional

from miniray._private import worker as worker_mod


class RuntimeContext:
    """IDs of the current job, task, node and worker, and the namespace."""

    def __init__(self, w):
        self._w = w

    def get_job_id(self) -> str:
        return self._w.core.job_id

    def get_node_id(self) -> str:
        return self._w.core.node_id

    def get_worker_id(self) -> str:
        return self._w.core.worker_id

    def get_task_id(self) -> Optional[str]:
        tid = self._w.current_task_id
        return tid.hex() if tid else None

    def get_actor_id(self) -> Optional[str]:
        aid = self._w.actor_id
        return aid.hex() if aid else None

    def get_task_name(self) -> Optional[str]:
        return self._w.current_task_name

    @property
    def namespace(self) -> str:
        return self._w.namespace

    def get_assigned_resources(self) -> Dict[str, float]:
        return {}

    def get_accelerator_ids(self) -> Dict[str, List[str]]:
        return {"GPU": [str(g) for g in self._w.current_gpu_ids]}

    @property
    def job_id(self) -> str:
        return self.get_job_id()

    @property
    def node_id(self) -> str:
        return self.get_node_id()

    @property
    def task_id(self) -> Optional[str]:
        return self.get_task_id()

    def get(self) -> Dict[str, Optional[str]]:
        return {"job_id": self.get_job_id(), "node_id": self.get_node_id(),
                "task_id": self.get_task_id(), "namespace": self.namespace}


def get_runtime_context() -> RuntimeContext:
    """IDs of the current job, node, worker, task and actor, and the namespace."""
    return RuntimeContext(worker_mod._ensure_connected())
