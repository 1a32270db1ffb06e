"""RuntimeContext: what get_runtime_context() tells a driver or task."""
import pickle
from typing import Dict, List, Optional

from miniray._private import worker as worker_mod


class RuntimeContext:
    """IDs of the current job, task, node and worker, and the namespace."""

    def __init__(self, w):
        self._w = w

    def get_job_id(self) -> str:
        """The current job's id, in hex (one job per driver)."""
        return self._w.core.job_id

    def get_node_id(self) -> str:
        """The id of the node this process runs on, in hex."""
        return self._w.core.node_id

    def get_worker_id(self) -> str:
        """This process's worker id, in hex (the driver has one too)."""
        return self._w.core.worker_id

    def get_task_id(self) -> Optional[str]:
        """The running task's or actor call's id in hex; None in the driver."""
        tid = self._w.current_task_id
        return tid.hex() if tid else None

    def get_actor_id(self) -> Optional[str]:
        """The current actor's id in hex; None outside an actor."""
        aid = self._w.actor_id
        return aid.hex() if aid else None

    def get_task_name(self) -> Optional[str]:
        """The running task's name (function or Class.method); None in the driver."""
        return self._w.current_task_name

    @property
    def namespace(self) -> str:
        """The namespace of this job's named actors."""
        return self._w.namespace

    def get_assigned_resources(self) -> Dict[str, float]:
        """The resources reserved for the running task, or those the current
        actor holds for its life (num_cpus if given, GPUs, custom); {} in
        the driver."""
        w = self._w
        if w.actor_creation is not None:
            return {k: v for k, v in dict(w.actor_creation.lifetime_resources).items() if v}
        spec = w.current_task_spec
        if spec is None:
            return {}
        return {k: v for k, v in dict(spec.required_resources).items() if v}

    def is_canceled(self) -> bool:
        """Whether miniray.cancel() was called for the running task or actor
        call (an actor call is not interrupted: it may check this and stop).

        Raises:
            RuntimeError: called outside a task (in the driver).
        """
        task_id = self._w.current_task_id
        if task_id is None:
            raise RuntimeError("is_canceled() is only available in a task or actor call")
        return self._w.core.cancel_requested(task_id)

    def get_actor_name(self) -> Optional[str]:
        """The current actor's name if it has one; None otherwise."""
        creation = self._w.actor_creation
        return (creation.name or None) if creation is not None else None

    @property
    def current_actor(self):
        """The handle of the actor this code runs in.

        Raises:
            RuntimeError: called outside of an actor.
        """
        w = self._w
        if w.actor_creation is None:
            raise RuntimeError("This method is only available in an actor.")
        from miniray.actor import _rebuild_handle
        return _rebuild_handle(w.actor_id, pickle.loads(w.actor_creation.handle_metadata))

    def get_accelerator_ids(self) -> Dict[str, List[str]]:
        """The accelerators reserved for the running task: {"GPU": [ids]}."""
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
        """The ids above as a dict: job_id, node_id, task_id, namespace."""
        return {"job_id": self.get_job_id(), "node_id": self.get_node_id(),
                "task_id": self.get_task_id(), "namespace": self.namespace}


def get_runtime_context() -> RuntimeContext:
    """What this process is running now, as Ray's get_runtime_context().

    Returns:
        A RuntimeContext: the ids of the current job, node, worker, task and
        actor, the namespace and the task's reserved accelerators.
    """
    return RuntimeContext(worker_mod._ensure_connected())
