"""Actors: @miniray.remote on a class.

`Cls.remote(...)` asks the node to create the actor (its constructor runs as
a creation task on a worker that is then dedicated to it) and returns an
ActorHandle at once. `handle.method.remote(...)` submits a call that the node
queues on that actor and sends to its worker in submission order.

An actor lives while some handle refers to it: every handle counts as a
reference to a per-actor "handle object" in the node, so handles passed to
tasks, stored in other actors or inside values all keep it alive. Detached
actors (lifetime="detached") live until killed.
"""
import hashlib
import inspect
import pickle
from typing import Any, Dict, Generic, Optional, TypeVar

import _miniray_core
from _miniray_core import rpc

from miniray import dag, exceptions
from miniray._private import serialization
from miniray._private import worker as worker_mod
from miniray._private.object_ref import ObjectRef
from miniray._private.ray_option_utils import (
    ACTOR_OPTIONS, METHOD_OPTIONS, check_number, resource_demand, validate_options)
from miniray._private import generator as generator_mod
from miniray._private.remote_function import (
    SpecTemplate, export_function, never_schedulable, returns_of, runtime_env_json,
    serialize_args, set_placement)

T = TypeVar("T")


class ActorExitSignal(BaseException):
    """Raised by exit_actor(): ends the actor after the current call."""


def exit_actor() -> None:
    """Ends the current actor from inside one of its methods (as Ray's
    `ray.actor.exit_actor`): its process exits and later calls fail with
    ActorDiedError.

    Raises:
        TypeError: called outside of an actor.
    """
    if worker_mod.global_worker.actor_id is None:
        raise TypeError("exit_actor() called outside of an actor")
    raise ActorExitSignal()


def method(*args, **options):
    """Sets default options of an actor method: `@miniray.method(num_returns=2)`.

    Args:
        num_returns: ObjectRefs each call returns (default 1).
        max_task_retries, retry_exceptions: as the actor options.
        priority: as the task option (a miniray extension): calls waiting
            for this actor run higher priorities first.
        concurrency_group: the actor's concurrency group the calls run in.
        name, enable_task_events: accepted for Ray compatibility.

    Raises:
        TypeError: positional arguments other than the method itself.
        ValueError: an unknown option or a bad value.
    """
    def decorate(fn):
        validate_options(options, METHOD_OPTIONS, "actor methods")
        fn.__miniray_method_options__ = options
        return fn

    if len(args) == 1 and callable(args[0]) and not options:
        return decorate(args[0])
    if args:
        raise TypeError("@method takes keyword options only, e.g. @method(num_returns=2)")
    return decorate


def _method_table(cls) -> Dict[str, Dict[str, Any]]:
    methods = {}
    for name, member in inspect.getmembers(cls):
        if not callable(member) or (name.startswith("__") and name != "__call__"):
            continue
        methods[name] = dict(getattr(member, "__miniray_method_options__", {}))
        methods[name]["is_async"] = inspect.iscoroutinefunction(member) or \
            inspect.isasyncgenfunction(member)
        methods[name]["is_generator"] = generator_mod.is_generator_function(member)
    return methods


class ActorClass(Generic[T]):
    """What @remote makes of a class: `Cls.remote(...)` creates an actor and
    returns its ActorHandle; `Cls.options(...)` overrides actor options."""

    def __init__(self, cls: "type[T]", options: Dict[str, Any]):
        self._cls = cls
        self._options = validate_options(dict(options), ACTOR_OPTIONS, "actors")
        self._methods = _method_table(cls)
        self._pickled = None
        self._function_id = None
        self.__name__ = cls.__name__
        self.__doc__ = cls.__doc__

    def __call__(self, *args, **kwargs):
        raise TypeError(f"Actors cannot be instantiated directly. Instead of "
                        f"'{self.__name__}()', use '{self.__name__}.remote()'.")

    def options(self, **options: Any) -> "_ActorClassOptions[T]":
        """This class with some actor options overridden for the actors made
        through the result: `Cls.options(name="a", lifetime="detached")`.

        Args:
            **options: any option of @remote for classes (see remote()).

        Raises:
            ValueError, TypeError: an unknown option or a bad value.
        """
        merged = dict(self._options)
        merged.update(validate_options(options, ACTOR_OPTIONS, "actors"))
        return _ActorClassOptions(self, merged)

    def remote(self, *args: Any, **kwargs: Any) -> "ActorHandle[T]":
        """Creates an actor: its constructor runs with these arguments on a
        worker of its own. Returns its handle at once; a constructor that
        raises makes every call fail with ActorDiedError.

        Raises:
            TypeError: the arguments do not fit the constructor.
            ValueError: `name` is taken in its namespace (without
                get_if_exists=True).
        """
        return self._remote(args, kwargs, self._options)

    def bind(self, *args: Any, **kwargs: Any) -> "dag.ClassNode":
        """A node of a DAG creating this actor (see miniray.dag)."""
        return dag.ClassNode(self, args, kwargs)

    def __getstate__(self):
        return {"cls": self._cls, "options": self._options}

    def __setstate__(self, state):
        self.__init__(state["cls"], state["options"])

    def _remote(self, args, kwargs, options) -> "ActorHandle":
        w = worker_mod._ensure_connected()
        init = getattr(self._cls, "__init__", None)
        if init is not None and init is not object.__init__:
            try:
                inspect.signature(init).bind(None, *args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{self.__name__}.__init__() {e}") from None
            except ValueError:
                pass
        elif args or kwargs:
            raise TypeError(f"{self.__name__}() takes no arguments")
        if self._pickled is None:
            self._pickled = serialization.pickle_code(self._cls, "actor class")
            self._function_id = hashlib.sha1(self._pickled).digest()
        export_function(w, self._pickled, self._function_id)

        lifetime = options.get("lifetime")
        if lifetime not in (None, "detached", "non_detached"):
            raise ValueError(f"lifetime must be 'detached' or 'non_detached', got {lifetime!r}")
        name = options.get("name") or ""
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        namespace = options.get("namespace") or w.namespace
        if options.get("get_if_exists") and not name:
            raise ValueError("get_if_exists requires a name")
        is_async = any(m["is_async"] for m in self._methods.values())
        max_concurrency = options.get("max_concurrency") or (1000 if is_async else 1)
        check_number("max_concurrency", max_concurrency, allow_none=False, integer=True)
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        # Placement needs 1 CPU unless num_cpus is given; a running actor
        # holds num_cpus (default 0) and its GPUs and custom resources.
        groups = options.get("concurrency_groups") or {}
        for method_name, method_options in self._methods.items():
            group = method_options.get("concurrency_group")
            if group and group not in groups:
                raise ValueError(f"{self.__name__}.{method_name} is in concurrency group "
                                 f"{group!r}, which the actor does not define "
                                 f"(concurrency_groups={groups})")
        metadata = pickle.dumps({
            "class_name": self.__name__,
            "methods": self._methods,
            "max_task_retries": options.get("max_task_retries") or 0,
            "max_pending_calls": options.get("max_pending_calls") or -1,
            "concurrency_groups": sorted(groups),
        })
        blob, deps, contained, keep = serialize_args(w, args, kwargs, f"{self.__name__}.__init__")
        spec = rpc.TaskSpec(
            name=f"{self.__name__}.__init__",
            function_id=self._function_id,
            args=blob,
            dependencies=deps,
            contained=contained,
            required_resources=resource_demand(options, 1.0),
            runtime_env=runtime_env_json(options),
            actor_creation_task_spec=rpc.ActorCreationTaskSpec(
                max_actor_restarts=int(options.get("max_restarts") or 0),
                max_concurrency=max_concurrency,
                is_asyncio=is_async,
                is_detached=lifetime == "detached",
                name=name,
                ray_namespace=namespace,
                lifetime_resources=resource_demand(options, 0.0),
                handle_metadata=metadata,
                concurrency_groups=groups,
            ),
        )
        captured = w.current_capture_group if w.mode == worker_mod.WORKER else None
        set_placement(spec, options, captured if options.get("scheduling_strategy") is None
                      else None)
        reason = never_schedulable(options)
        if reason:
            raise exceptions.ActorUnschedulableError(
                f"The actor {self.__name__} cannot be scheduled: {reason}.")
        router = w.router
        if router is not None and not contained:  # an attached driver: maybe elsewhere
            reply = router.create_actor(spec, options.get("scheduling_strategy"), blob, deps,
                                        keep, bool(options.get("get_if_exists")))
            if reply is not None:
                return ActorHandle._remote_owned(reply.actor_id,
                                                 pickle.loads(reply.handle_metadata))
        if router is not None and deps:
            router.fetch(deps)
        reply = w.core.create_actor(spec, bool(options.get("get_if_exists")))
        del keep
        return ActorHandle._owned(reply.actor_id, pickle.loads(reply.handle_metadata))


class _ActorClassOptions(Generic[T]):
    """`Cls.options(...)`: the class with some actor options overridden."""

    def __init__(self, actor_class: ActorClass[T], options: Dict[str, Any]):
        self._actor_class = actor_class
        self._options = options

    def remote(self, *args: Any, **kwargs: Any) -> "ActorHandle[T]":
        """As ActorClass.remote, with these options."""
        return self._actor_class._remote(args, kwargs, self._options)

    def bind(self, *args: Any, **kwargs: Any) -> "dag.ClassNode":
        """As ActorClass.bind, with these options."""
        return dag.ClassNode(self, args, kwargs)


class ActorMethod:
    """`handle.method`: `.remote(...)` submits a call, `.options(...)`
    overrides the method's options."""

    def __init__(self, handle: "ActorHandle", name: str, options: Dict[str, Any],
                 template: "SpecTemplate" = None):
        self._handle = handle
        self._name = name
        self._options = options
        self._template = template

    def __call__(self, *args, **kwargs):
        raise TypeError(f"Actor methods cannot be called directly. Instead of running "
                        f"'object.{self._name}()', try 'object.{self._name}.remote()'.")

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Submits a call of this method; returns its ObjectRef (or a list
        of num_returns ObjectRefs) at once. Calls from one handle run in
        submission order."""
        if self._template is None:
            self._template = self._handle._call_template(self._name, self._options)
        return self._handle._submit(self._template, args, kwargs)

    def bind(self, *args: Any, **kwargs: Any) -> "dag.ClassMethodNode":
        """A node of a DAG calling this method of this live actor."""
        return dag.ClassMethodNode(self._handle, self._name, self._options, args, kwargs)

    def options(self, **options: Any) -> "ActorMethod":
        """This method with some options overridden (num_returns, name,
        max_task_retries, retry_exceptions)."""
        merged = dict(self._options)
        merged.update(validate_options(options, METHOD_OPTIONS, "actor methods"))
        return ActorMethod(self._handle, self._name, merged)


class ActorHandle(Generic[T]):
    """A reference to an actor of class T: `handle.method.remote(...)` calls
    a method. Picklable, so it can be passed to tasks and other actors
    (inside containers too); the actor lives while any handle does."""

    def __init__(self, actor_id: bytes, metadata: Dict[str, Any], handle_ref: ObjectRef):
        self._actor_id = actor_id
        self._metadata = metadata
        self._handle_ref = handle_ref  # keeps the actor alive while we live
        # Per method: its default options and their TaskSpec template.
        self._templates: Dict[str, tuple] = {}
        self._pending: list = []  # unfinished calls, with max_pending_calls
        self._max_pending = metadata.get("max_pending_calls", -1)

    @classmethod
    def _owned(cls, actor_id: bytes, metadata) -> "ActorHandle":
        w = worker_mod.global_worker
        return cls(actor_id, metadata,
                   ObjectRef(_miniray_core.actor_handle_id(actor_id), w.core))

    @classmethod
    def _remote_owned(cls, actor_id: bytes, metadata) -> "ActorHandle":
        """The handle of an actor on another node (cluster_router.py)."""
        from miniray._private.cluster_router import RemoteActorRef
        return cls(actor_id, metadata, RemoteActorRef(actor_id))

    def __getattr__(self, name: str) -> ActorMethod:
        if name in ("_actor_id", "_metadata", "_handle_ref", "_templates", "_pending",
                    "_max_pending"):
            raise AttributeError(name)
        cached = self._templates.get(name)
        if cached is not None:
            return ActorMethod(self, name, *cached)
        if name in ("__ray_terminate__", "__ray_ready__"):
            return ActorMethod(self, name, {})
        methods = self._metadata["methods"]
        if name not in methods:
            raise AttributeError(f"'{self._metadata['class_name']}' object has no "
                                 f"attribute '{name}'")
        options = {k: v for k, v in methods[name].items()
                   if k not in ("is_async", "is_generator")}
        self._templates[name] = (options, self._call_template(name, options))
        return ActorMethod(self, name, *self._templates[name])

    def _call_template(self, method_name: str, options: Dict[str, Any]) -> SpecTemplate:
        """The TaskSpec shared by calls of one method with one options set."""
        num_returns = options.get("num_returns")
        info = self._metadata["methods"].get(method_name, {})
        generator = generator_mod.generator_kind(num_returns, bool(info.get("is_generator")))
        if generator:
            num_returns = 1  # the completion; the items follow it
        elif num_returns is None:
            num_returns = 1
        retries = options.get("max_task_retries")
        if retries is None:
            retries = self._metadata.get("max_task_retries", 0)
        return SpecTemplate(rpc.TaskSpec(
            type=rpc.TaskType.ACTOR_TASK,
            actor_id=self._actor_id,
            method_name=method_name,
            name=f"{self._metadata['class_name']}.{method_name}",
            num_returns=1 if num_returns is None else int(num_returns),
            max_retries=int(retries),
            priority=int(options.get("priority") or 0),
            concurrency_group=self._concurrency_group(method_name, options),
            generator=generator,
        ))

    def _concurrency_group(self, method_name: str, options: Dict[str, Any]) -> str:
        group = options.get("concurrency_group") or ""
        if group and group not in self._metadata.get("concurrency_groups", ()):
            raise ValueError(f"concurrency group {group!r} of {method_name}() is not one "
                             f"of the actor's: {self._metadata.get('concurrency_groups', [])}")
        return group

    def _submit(self, template: SpecTemplate, args, kwargs):
        w = worker_mod._ensure_connected()
        limit = self._max_pending
        if limit > 0:
            self._check_pending_calls(w, limit)
        blob, deps, contained, keep = serialize_args(w, args, kwargs, template)
        router = w.router
        if router is not None and self._actor_id in router.actors:  # on another node
            refs = router.submit_actor_call(self._actor_id, template, blob, deps, keep)
        else:
            if router is not None and deps:
                router.fetch(deps)
            ids = w.core.submit_task(template.spec, blob, deps, contained)
            del keep
            refs = returns_of(w, ids, template)
        if limit > 0 and isinstance(refs, (ObjectRef, list)):
            self._pending.append(refs if isinstance(refs, ObjectRef) else refs[0])
        return refs

    def _check_pending_calls(self, w, limit: int) -> None:
        """max_pending_calls (as Ray): calls from this handle that have not
        finished are counted; one more than `limit` is refused."""
        pending = self._pending
        if len(pending) >= limit:
            if w.router is not None:
                w.router.fetch([r._id for r in pending])
            flags = w.core.wait([r._id for r in pending], len(pending), 0.0)
            pending[:] = [r for r, done in zip(pending, flags) if not done]
        if len(pending) >= limit:
            raise exceptions.PendingCallsLimitExceeded(
                f"The actor {self._metadata['class_name']} ({self._actor_id.hex()}) has "
                f"{len(pending)} calls pending from this handle, its max_pending_calls "
                f"({limit}); wait for some before submitting more.")

    def __reduce__(self):
        w = worker_mod.global_worker
        if w.router is not None and self._actor_id in w.router.actors:  # on another node
            return (_rebuild_remote_handle,
                    (self._actor_id, self._metadata, w.router.handle_info(self._actor_id)))
        # The value holding this handle keeps the actor alive.
        serialization.record_contained_ref(_miniray_core.actor_handle_id(self._actor_id))
        return (_rebuild_handle, (self._actor_id, self._metadata))

    def __eq__(self, other):
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __hash__(self):
        return hash(self._actor_id)

    def __repr__(self):
        return f"Actor({self._metadata['class_name']}, {self._actor_id.hex()})"


def _rebuild_handle(actor_id: bytes, metadata) -> ActorHandle:
    w = worker_mod.global_worker
    ref = ObjectRef(_miniray_core.actor_handle_id(actor_id), w.core, borrowed=True)
    return ActorHandle(actor_id, metadata, ref)


def _rebuild_remote_handle(actor_id: bytes, metadata, info) -> ActorHandle:
    """A handle of an actor on another node, passed to this process: its
    calls go over NodeService (cluster_router.py). An actor whose handle
    was passed lives until its creator's job ends or it is killed."""
    from miniray._private.cluster_router import borrower_router
    w = worker_mod.global_worker
    router = w.router if w.router is not None else borrower_router(w)
    router.adopt_actor(actor_id, info)
    return ActorHandle(actor_id, metadata, None)


def get_actor(name: str, namespace: Optional[str] = None) -> ActorHandle[Any]:
    """The handle of a live named actor (made with `.options(name=...)`).

    Args:
        name: the actor's name.
        namespace: the namespace it was named in (default: this job's).

    Returns:
        An ActorHandle to it.

    Raises:
        ValueError: no live actor has that name in that namespace.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("Please supply a non-empty value to get_actor")
    w = worker_mod._ensure_connected()
    try:
        reply = w.core.get_actor(name, namespace or w.namespace)
    except KeyError as e:  # no such actor: Ray raises ValueError
        # An attached driver also finds named actors on the other nodes.
        elsewhere = w.router.find_actor(name, namespace or w.namespace) if w.router else None
        if elsewhere is None:
            raise ValueError(e.args[0]) from None
        return ActorHandle(elsewhere.actor_id, pickle.loads(elsewhere.handle_metadata), None)
    return ActorHandle._owned(reply.actor_id, pickle.loads(reply.handle_metadata))


def kill(actor: ActorHandle[Any], *, no_restart: bool = True) -> None:
    """Kills an actor at once, as if its process died.

    Running and queued calls fail with ActorDiedError, and so do later ones.

    Args:
        actor: the actor's handle.
        no_restart: False lets it restart if it has max_restarts left.

    Raises:
        ValueError: `actor` is not an actor handle.
    """
    if not isinstance(actor, ActorHandle):
        raise ValueError(f"miniray.kill() only supports actors; got {type(actor).__name__}")
    w = worker_mod._ensure_connected()
    if w.router is not None and actor._actor_id in w.router.actors:
        w.router.kill_actor(actor._actor_id, no_restart)
        return
    w.core.kill_actor(actor._actor_id, no_restart)
