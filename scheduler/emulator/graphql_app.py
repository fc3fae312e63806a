"""GraphQL execution: the schema, a parse/validate cache, and RunPod's response envelope.

Why: the emulator must reject what production rejects (HTTP 400, graphql-js style messages such
as `Cannot query field "gpuUtilPercent" on type "PodRuntime".`) and answer business errors as
HTTP 200 with `data` nulls plus `errors`. Documents are parsed and validated once per distinct
text (clients send the same few documents over and over); `DocumentCache.parses` counts misses.
Valid query operations also get a `plan.QueryPlan`, which answers them without graphql-core's
per-field overhead and hands anything it cannot answer exactly back to graphql-core.

Envelope rules: success bodies carry no `errors` key (the SDK indexes `errors[0]` whenever the key
exists); syntax errors are 400 `GRAPHQL_PARSE_FAILED`, validation errors 400
`GRAPHQL_VALIDATION_FAILED`, variable coercion and unknown operation 400 `BAD_USER_INPUT`.
graphql-core 3.2 quotes names with `'`; graphql-js (what RunPod runs) uses `"`, so messages are
converted.

What it must not do: authenticate, inject faults or touch HTTP (handler.py does).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)

from scheduler.emulator.errors import ApiError
from scheduler.emulator.plan import QueryPlan, Unplanned, compile_query
from scheduler.emulator.resolvers import PUBLIC_FIELDS, mutation_root, query_root
from scheduler.emulator.world import World

Json = dict[str, Any]


@cache
def schema() -> GraphQLSchema:
    """The reference schema shipped with the package (built once per process)."""
    text = resources.files("scheduler.emulator").joinpath("schema.graphql").read_text("utf-8")
    return build_schema(text)


_QUOTED = re.compile(r"'([^'\n]*)'")


def js_message(message: str) -> str:
    """graphql-core's `'name'` quoting as graphql-js's `"name"`."""
    return _QUOTED.sub(r'"\1"', message)


def format_error(error: GraphQLError, code: str | None = None) -> Json:
    original = error.original_error
    out: Json
    if isinstance(original, ApiError):
        out = {"message": original.message}
        code = original.code
    else:
        out = {"message": js_message(error.message)}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    out["extensions"] = {"code": code or "INTERNAL_SERVER_ERROR"}
    return out


@dataclass(frozen=True)
class Operation:
    name: str | None
    kind: OperationType
    root_fields: tuple[str, ...]
    plan: QueryPlan | None = None  # set once the document is known to be valid


@dataclass(frozen=True)
class Prepared:
    """A parsed and validated document, or the 400 errors it earned."""

    document: DocumentNode | None
    errors: tuple[Json, ...]
    operations: tuple[Operation, ...]

    def operation(self, name: str | None) -> Operation | None:
        if name is None:
            return self.operations[0] if len(self.operations) == 1 else None
        return next((op for op in self.operations if op.name == name), None)


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> list[str]:
    names: list[str] = []
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            names.append(sel.name.value)
        elif isinstance(sel, InlineFragmentNode):
            names.extend(_root_fields(sel.selection_set, fragments))
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            names.extend(_root_fields(fragments[sel.name.value].selection_set, fragments))
    return names


def _prepare(text: str, plan: bool) -> Prepared:
    try:
        document = parse(text)
    except GraphQLError as exc:
        return Prepared(None, (format_error(exc, "GRAPHQL_PARSE_FAILED"),), ())
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = tuple(
        Operation(
            d.name.value if d.name else None,
            d.operation,
            tuple(_root_fields(d.selection_set, fragments)),
        )
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    problems = validate(schema(), document)
    if problems:
        errors = tuple(format_error(e, "GRAPHQL_VALIDATION_FAILED") for e in problems)
        return Prepared(None, errors, operations)
    if plan:
        definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        operations = tuple(
            replace(op, plan=compile_query(schema(), d))
            for op, d in zip(operations, definitions, strict=True)
        )
    return Prepared(document, (), operations)


class DocumentCache:
    """LRU of prepared documents keyed by the exact query text; thread-safe.

    `plan=False` compiles no query plans, so every document runs on graphql-core (the reference
    the plans are measured and checked against).
    """

    def __init__(self, max_size: int = 512, *, plan: bool = True) -> None:
        self._plan = plan
        self._max_size = max_size
        self._items: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()
        self.parses = 0
        self.hits = 0

    def get(self, text: str) -> Prepared:
        with self._lock:
            found = self._items.get(text)
            if found is not None:
                self._items.move_to_end(text)
                self.hits += 1
                return found
        prepared = _prepare(text, self._plan)
        with self._lock:
            self.parses += 1
            self._items[text] = prepared
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)
        return prepared

    def __len__(self) -> int:
        return len(self._items)


def is_public(operation: Operation | None) -> bool:
    """True when the operation only reads the catalogue, which RunPod serves without a key."""
    return (
        operation is not None
        and operation.kind == OperationType.QUERY
        and bool(operation.root_fields)
        and set(operation.root_fields) <= PUBLIC_FIELDS
    )


def run(
    world: World,
    prepared: Prepared,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> tuple[int, Json]:
    """Execute a valid document against the world (caller holds the lock and has synced).

    A query with a plan runs on it; whatever the plan cannot answer exactly runs on graphql-core.
    """
    op = prepared.operation(operation_name)
    if op is not None and op.plan is not None:
        try:
            return 200, {"data": op.plan.execute(query_root(world), variables)}
        except Unplanned:
            pass
    return run_graphql_core(world, prepared, variables, operation_name)


def run_graphql_core(
    world: World,
    prepared: Prepared,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> tuple[int, Json]:
    """`run` without plans: graphql-core executes the document (the reference behaviour)."""
    assert prepared.document is not None
    op = prepared.operation(operation_name)
    is_mutation = op is not None and op.kind == OperationType.MUTATION
    root = mutation_root(world) if is_mutation else query_root(world)
    result = execute_sync(
        schema(),
        prepared.document,
        root_value=root,
        variable_values=variables,
        operation_name=operation_name,
    )
    if result.data is None and result.errors:
        return 400, {"errors": [format_error(e, "BAD_USER_INPUT") for e in result.errors]}
    body: Json = {"data": result.data}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
    return 200, body
