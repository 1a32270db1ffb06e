"""The DAG API (as ray.dag): describe a graph of tasks and actor calls once
with `.bind()`, run it with `.execute()`.

    with InputNode() as inp:
        dag = add.bind(double.bind(inp[0]), inp[1])
    miniray.get(dag.execute(2, 3))  # add(double(2), 3)

`f.bind(...)` (a remote function, or `f.options(...)`), `Cls.bind(...)`
(an actor class) and `node.method.bind(...)` (a method of a bound class, or
of a live actor handle) make nodes; arguments may be values or other nodes,
also inside lists, tuples and dicts. `execute()` submits every node once,
in dependency order, passing ObjectRefs between them (so nothing waits on
the driver), and returns the root's ObjectRef (a list of them for a
MultiOutputNode). Actors of bound classes are created per execution.
"""
from typing import Any, Dict, List, Optional

__all__ = ["ClassMethodNode", "ClassNode", "DAGNode", "FunctionNode", "InputAttributeNode",
           "InputNode", "MultiOutputNode"]


class DAGNode:
    """A node of a bound graph."""

    def __init__(self, args: tuple = (), kwargs: Optional[Dict[str, Any]] = None):
        self._bound_args = args
        self._bound_kwargs = kwargs or {}

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the graph ending here with these inputs (for its InputNode).

        Returns:
            This node's result: an ObjectRef for a task or method node, an
            ActorHandle for a class node, a list for a MultiOutputNode.
        """
        return _Execution(args, kwargs).resolve(self)

    def _run(self, run: "_Execution") -> Any:
        raise NotImplementedError

    def _resolved_args(self, run: "_Execution"):
        return (tuple(run.resolve_value(a) for a in self._bound_args),
                {k: run.resolve_value(v) for k, v in self._bound_kwargs.items()})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


class FunctionNode(DAGNode):
    """`f.bind(...)`: a task of a remote function."""

    def __init__(self, remote_function, args, kwargs):
        super().__init__(args, kwargs)
        self._remote_function = remote_function  # a RemoteFunction or its .options()

    def _run(self, run):
        args, kwargs = self._resolved_args(run)
        return self._remote_function.remote(*args, **kwargs)


class ClassNode(DAGNode):
    """`Cls.bind(...)`: an actor, created once per execution."""

    def __init__(self, actor_class, args, kwargs):
        super().__init__(args, kwargs)
        self._actor_class = actor_class

    def _run(self, run):
        args, kwargs = self._resolved_args(run)
        return self._actor_class.remote(*args, **kwargs)

    def __getattr__(self, name: str) -> "_UnboundMethod":
        if name.startswith("_"):
            raise AttributeError(name)
        return _UnboundMethod(self, name)


class _UnboundMethod:
    """`class_node.method`: call `.bind(...)` on it."""

    def __init__(self, parent, name: str, options: Optional[Dict[str, Any]] = None):
        self._parent = parent
        self._name = name
        self._options = options or {}

    def options(self, **options: Any) -> "_UnboundMethod":
        return _UnboundMethod(self._parent, self._name, {**self._options, **options})

    def bind(self, *args: Any, **kwargs: Any) -> "ClassMethodNode":
        return ClassMethodNode(self._parent, self._name, self._options, args, kwargs)


class ClassMethodNode(DAGNode):
    """`node.method.bind(...)`: a call of a bound class's (or a live
    actor's) method."""

    def __init__(self, parent, method_name: str, options, args, kwargs):
        super().__init__(args, kwargs)
        self._parent = parent  # a ClassNode, or an ActorHandle
        self._method_name = method_name
        self._options = options

    def _run(self, run):
        handle = run.resolve_value(self._parent)
        method = getattr(handle, self._method_name)
        if self._options:
            method = method.options(**self._options)
        args, kwargs = self._resolved_args(run)
        return method.remote(*args, **kwargs)


class InputNode(DAGNode):
    """The graph's input: what execute() is given. Use it as a context
    manager; `inp` is the single argument, `inp[i]` the i-th positional
    one, `inp.name` (or `inp["name"]`) a keyword argument."""

    def __enter__(self) -> "InputNode":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __getitem__(self, key) -> "InputAttributeNode":
        return InputAttributeNode(key)

    def __getattr__(self, name: str) -> "InputAttributeNode":
        if name.startswith("_"):
            raise AttributeError(name)
        return InputAttributeNode(name)

    def _run(self, run):
        if len(run.args) == 1 and not run.kwargs:
            return run.args[0]
        raise ValueError(f"the DAG uses its InputNode as one value, so execute() takes exactly "
                         f"one argument; it got {len(run.args)} and {len(run.kwargs)} keyword "
                         f"arguments (use inp[i] or inp.name for several)")


class InputAttributeNode(DAGNode):
    """`inp[i]` or `inp.name`: one argument of execute()."""

    def __init__(self, key):
        super().__init__()
        self._key = key

    def _run(self, run):
        key = self._key
        try:
            if isinstance(key, int):
                return run.args[key]
            if key in run.kwargs:
                return run.kwargs[key]
            if len(run.args) == 1 and not run.kwargs:  # a dict, or an object with attributes
                value = run.args[0]
                return value[key] if isinstance(value, dict) else getattr(value, key)
        except (IndexError, KeyError, AttributeError):
            pass
        raise ValueError(f"the DAG reads input {key!r}, which execute() was not given")


class MultiOutputNode(DAGNode):
    """Several nodes' results at once: execute() returns a list."""

    def __init__(self, outputs: List[DAGNode]):
        super().__init__(tuple(outputs))

    def _run(self, run):
        return [run.resolve_value(node) for node in self._bound_args]


class _Execution:
    """One execute(): each node runs once; its result is reused."""

    def __init__(self, args, kwargs):
        self.args = args
        self.kwargs = kwargs
        self.results: Dict[int, Any] = {}
        self.keep: List[DAGNode] = []  # ids stay unique while the run lasts

    def resolve(self, node: DAGNode) -> Any:
        key = id(node)
        if key not in self.results:
            self.results[key] = node._run(self)
            self.keep.append(node)
        return self.results[key]

    def resolve_value(self, value: Any) -> Any:
        if isinstance(value, DAGNode):
            return self.resolve(value)
        if isinstance(value, list):
            return [self.resolve_value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve_value(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve_value(v) for k, v in value.items()}
        return value
