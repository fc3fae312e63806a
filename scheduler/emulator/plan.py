"""A compiled execution plan for plain query documents: graphql-core's answer, minus its overhead.

Why: clients send the same few queries over and over (the market and the pod list on every
reconcile tick), and graphql-core spends about ten microseconds of bookkeeping per field (resolve
info, paths, argument coercion, awaitable checks) on answers that are plain dicts. A plan is
compiled once per validated operation and walks the views directly.

The plan only ever answers the happy path. It compiles only query operations made of plain
fields (aliases and arguments allowed; no fragments, directives, introspection or repeated
response keys) over object, list, non-null, scalar and enum types. At run time anything that
would make graphql-core report an error (variables that do not coerce, an argument that does
not coerce, a resolver that raises, a null in a non-null position, a leaf that does not
serialize, a list that is not a list) raises `Unplanned`, and the caller executes the document
with graphql-core instead, which is why only queries are planned: their resolvers only read the
world, so running them twice is harmless. Resolvers get `info=None`; the emulator's views never
read it (one that did would raise and fall back too). Coerced variables are reused by later
requests with the same variables, so resolvers must not change their arguments.

`tests/emulator/test_plan.py` checks the plan against graphql-core byte for byte on randomized
worlds.

What it must not do: execute mutations, or answer anything graphql-core would answer differently.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.values import get_argument_values, get_variable_values


class Unplanned(Exception):
    """The plan cannot answer this request exactly; execute it with graphql-core."""


# Completes one resolved value for its type (given the run, for nested objects): chosen once
# per field when the plan is compiled, so no type is inspected while a request runs.
Completer = Callable[["_Run", Any], Any]


@dataclass(frozen=True, slots=True)
class FieldPlan:
    key: str  # the response key (alias or field name)
    name: str
    complete: Completer
    args: dict[str, Any] | None  # fixed arguments, or None when they need the variables
    node: FieldNode
    field: GraphQLField


def _uses_variables(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_uses_variables(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_uses_variables(field.value) for field in value.fields)
    return False


def _fixed_args(field: GraphQLField, node: FieldNode) -> dict[str, Any] | None:
    """The argument values when no variable feeds them (computed once), else None."""
    if any(_uses_variables(argument.value) for argument in node.arguments or ()):
        return None
    try:
        return get_argument_values(field, node, {})
    except GraphQLError:
        return None  # computed (and failing, so falling back) at run time


def _completer(
    type_: GraphQLOutputType, selection_set: SelectionSetNode | None
) -> Completer | None:
    if is_non_null_type(type_):
        assert isinstance(type_, GraphQLNonNull)
        inner = _completer(type_.of_type, selection_set)
        return None if inner is None else _non_null(inner)
    if is_list_type(type_):
        assert isinstance(type_, GraphQLList)
        inner = _completer(type_.of_type, selection_set)
        return None if inner is None else _list(inner)
    if is_leaf_type(type_):
        assert isinstance(type_, GraphQLScalarType | GraphQLEnumType)
        return None if selection_set is not None else _leaf(type_)
    if is_object_type(type_) and selection_set is not None:
        assert isinstance(type_, GraphQLObjectType)
        if type_.is_type_of is not None:
            return None
        fields = _fields(type_, selection_set)
        return None if fields is None else _object(fields)
    return None  # interfaces and unions


def _non_null(inner: Completer) -> Completer:
    def complete(run: _Run, value: Any) -> Any:
        if value is None:
            raise Unplanned  # graphql-core reports the error and nulls the parent
        return inner(run, value)

    return complete


def _list(inner: Completer) -> Completer:
    def complete(run: _Run, value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not list and type(value) is not tuple:
            raise Unplanned
        return [inner(run, item) for item in value]

    return complete


def _leaf(type_: GraphQLLeafType) -> Completer:
    serialize = type_.serialize

    def complete(_run: _Run, value: Any) -> Any:
        if value is None:
            return None
        serialized = serialize(value)
        if serialized is Undefined or serialized is None:
            raise Unplanned
        return serialized

    return complete


def _object(fields: tuple[FieldPlan, ...]) -> Completer:
    def complete(run: _Run, value: Any) -> Any:
        return None if value is None else run.object(fields, value)

    return complete


def _fields(
    parent: GraphQLObjectType, selection_set: SelectionSetNode
) -> tuple[FieldPlan, ...] | None:
    plans: list[FieldPlan] = []
    keys: set[str] = set()
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives:
            return None
        name = node.name.value
        key = node.alias.value if node.alias else name
        field = parent.fields.get(name)
        if key in keys or name.startswith("__") or field is None or field.resolve is not None:
            return None
        keys.add(key)
        complete = _completer(field.type, node.selection_set)
        if complete is None:
            return None
        plans.append(FieldPlan(key, name, complete, _fixed_args(field, node), node, field))
    return tuple(plans)


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """How to answer one query operation of a validated document without graphql-core."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    fields: tuple[FieldPlan, ...]
    # Coerced variables (and the arguments made from them) by the variables' JSON text: a
    # daemon sends the same variables tick after tick, and coercing them costs as much as
    # answering. Requests share these values, so resolvers must not change their arguments.
    _runs: dict[str, _Run] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def execute(self, root: Any, variables: dict[str, Any] | None) -> dict[str, Any]:
        """`data` exactly as graphql-core would produce it; `Unplanned` when it cannot."""
        key = json.dumps(variables) if variables else ""
        run = self._runs.get(key)
        if run is None:
            coerced = get_variable_values(
                self.schema, self.operation.variable_definitions or (), variables or {}
            )
            if isinstance(coerced, list):
                raise Unplanned
            run = _Run(coerced)
            if len(self._runs) >= _CACHED_VARIABLES:
                self._runs.clear()
            self._runs[key] = run
        try:
            return run.object(self.fields, root)
        except Unplanned:
            raise
        except Exception as exc:
            raise Unplanned from exc


_CACHED_VARIABLES = 64


class _Run:
    """Coerced variables and the arguments computed from them (lazily, once per field)."""

    __slots__ = ("args", "variables")

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables
        self.args: dict[int, dict[str, Any]] = {}

    def object(self, fields: tuple[FieldPlan, ...], source: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        is_dict = type(source) is dict or isinstance(source, Mapping)
        for plan in fields:
            value = source.get(plan.name) if is_dict else getattr(source, plan.name, None)
            if callable(value):
                args = plan.args
                if args is None:
                    args = self.args.get(id(plan))
                    if args is None:
                        args = get_argument_values(plan.field, plan.node, self.variables)
                        self.args[id(plan)] = args
                value = value(None, **args)
            out[plan.key] = plan.complete(self, value)
        return out


def compile_query(schema: GraphQLSchema, operation: OperationDefinitionNode) -> QueryPlan | None:
    """The plan of a validated query operation, or None when only graphql-core can run it."""
    if operation.operation != OperationType.QUERY or operation.directives:
        return None
    root = schema.query_type
    if root is None:
        return None
    fields = _fields(root, operation.selection_set)
    return None if fields is None else QueryPlan(schema, operation, fields)
