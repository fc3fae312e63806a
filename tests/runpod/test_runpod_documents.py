"""Every document the client can send validates against the schema the emulator executes.

Walks `scheduler.runpod.documents` for every `Operation` (so a new constant cannot be
forgotten) plus the generated market query for several combination counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema, parse, validate

import scheduler.runpod.documents as documents
from scheduler.runpod.documents import Operation

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "scheduler" / "emulator" / "schema.graphql"


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


def _module_operations() -> list[Operation]:
    return [v for v in vars(documents).values() if isinstance(v, Operation)]


def _all_operations() -> list[Operation]:
    return (
        _module_operations()
        + [documents.market_operation(n) for n in range(1, 7)]
        + [documents.market_operation(n, filtered=True) for n in range(1, 4)]
    )


def test_every_module_operation_is_listed_in_fixed_operations():
    assert set(_module_operations()) == set(documents.FIXED_OPERATIONS)
    assert len(documents.FIXED_OPERATIONS) == 14


@pytest.mark.parametrize(
    "op", _all_operations(), ids=lambda op: f"{op.name}-{op.document.count('lowestPrice')}"
)
def test_document_validates_against_schema(schema, op):
    ast = parse(op.document)
    assert validate(schema, ast) == []
    [definition] = ast.definitions  # one named operation per document, no fragments
    assert isinstance(definition, OperationDefinitionNode)
    assert definition.name is not None
    roots = [sel.name.value for sel in definition.selection_set.selections]
    assert roots == [op.root]


def test_documents_never_select_fields_the_real_api_rejects():
    text = "\n".join(op.document for op in _all_operations())
    # reference §8: utilisation lives in runtime.gpus; podTerminate returns Void.
    assert "runtime { gpuUtilPercent" not in text
    assert "podTerminate(input: $input)\n}" in documents.TERMINATE_POD.document


def test_user_values_travel_only_in_variables():
    for op in _all_operations():
        ast = parse(op.document)
        [definition] = ast.definitions
        assert isinstance(definition, OperationDefinitionNode)
        # every argument value in the document is a variable, never a literal
        assert '"' not in op.document, op.name


def test_creates_are_never_retried_and_spot_is_marked():
    creates = {"deploy_on_demand", "deploy_spot", "resume_pod", "bid_resume_pod"}
    creates |= {"save_template", "create_network_volume"}
    for op in _all_operations():
        assert op.retry is (op.name not in creates), op.name
    assert {op.name for op in _all_operations() if op.spot} == {"deploy_spot", "bid_resume_pod"}
    assert {op.name for op in _all_operations() if not op.needs_key} == {"market", "data_centers"}


def test_market_document_depends_only_on_combination_count():
    assert documents.market_operation(2) is documents.market_operation(2)
    with pytest.raises(ValueError, match="at least one"):
        documents.market_operation(0)
