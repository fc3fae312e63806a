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
read it (one that did would raise and fall back too).

`tests/emulator/test_plan.py` checks the plan against graphql-core byte for byte on randomized
worlds.

What it must not do: execute mutations, or answer anything graphql-core would answer differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
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


# Type shapes, outermost first: (NON_NULL, inner) | (LIST, inner) | (LEAF, type) | (OBJECT, fields)
_NON_NULL, _LIST, _LEAF, _OBJECT = range(4)
Shape = tuple[int, Any]


@dataclass(frozen=True, slots=True)
class FieldPlan:
    key: str  # the response key (alias or field name)
    name: str
    shape: Shape
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


def _shape(type_: GraphQLOutputType, selection_set: SelectionSetNode | None) -> Shape | None:
    if is_non_null_type(type_):
        assert isinstance(type_, GraphQLNonNull)
        inner = _shape(type_.of_type, selection_set)
        return None if inner is None else (_NON_NULL, inner)
    if is_list_type(type_):
        assert isinstance(type_, GraphQLList)
        inner = _shape(type_.of_type, selection_set)
        return None if inner is None else (_LIST, inner)
    if is_leaf_type(type_):
        return None if selection_set is not None else (_LEAF, type_)
    if is_object_type(type_) and selection_set is not None:
        assert isinstance(type_, GraphQLObjectType)
        if type_.is_type_of is not None:
            return None
        fields = _fields(type_, selection_set)
        return None if fields is None else (_OBJECT, fields)
    return None  # interfaces and unions


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
        shape = _shape(field.type, node.selection_set)
        if shape is None:
            return None
        plans.append(FieldPlan(key, name, shape, _fixed_args(field, node), node, field))
    return tuple(plans)


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """How to answer one query operation of a validated document without graphql-core."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    fields: tuple[FieldPlan, ...]

    def execute(self, root: Any, variables: dict[str, Any] | None) -> dict[str, Any]:
        """`data` exactly as graphql-core would produce it; `Unplanned` when it cannot."""
        coerced = get_variable_values(
            self.schema, self.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            raise Unplanned
        try:
            return _Run(coerced).object(self.fields, root)
        except Unplanned:
            raise
        except Exception as exc:
            raise Unplanned from exc


class _Run:
    """One execution: the coerced variables and the arguments computed from them."""

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
            out[plan.key] = self.complete(plan.shape, value)
        return out

    def complete(self, shape: Shape, value: Any) -> Any:
        kind, inner = shape
        if kind == _NON_NULL:
            if value is None:
                raise Unplanned
            return self.complete(inner, value)
        if value is None:
            return None
        if kind == _LEAF:
            leaf: GraphQLLeafType = inner
            serialized = leaf.serialize(value)
            if serialized is Undefined or serialized is None:
                raise Unplanned
            return serialized
        if kind == _OBJECT:
            return self.object(inner, value)
        if type(value) is not list and type(value) is not tuple:
            raise Unplanned
        return [self.complete(inner, item) for item in value]


def compile_query(schema: GraphQLSchema, operation: OperationDefinitionNode) -> QueryPlan | None:
    """The plan of a validated query operation, or None when only graphql-core can run it."""
    if operation.operation != OperationType.QUERY or operation.directives:
        return None
    root = schema.query_type
    if root is None:
        return None
    fields = _fields(root, operation.selection_set)
    return None if fields is None else QueryPlan(schema, operation, fields)
