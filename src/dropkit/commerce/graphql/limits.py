"""A static cost limit: refuse, before running it, a query that would resolve too many fields.

Depth alone does not bound work: ``products(first: 100)`` under fifty aliases is shallow but
resolves 5000 products. Each field costs the number of times it would be resolved: a field with
a ``first`` argument multiplies the cost of everything under it by that page size (its default
when omitted, ``max_page`` when it comes from a variable, which validation cannot see).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    get_named_type,
)

__all__ = ["cost_limit_rule", "query_cost"]


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    *,
    max_page: int,
) -> int:
    """How many field resolutions ``operation`` asks for, in the worst case."""
    root = schema.get_root_type(operation.operation)
    return _cost(schema, root, operation.selection_set, fragments, max_page, 1, frozenset())


def _cost(
    schema: GraphQLSchema,
    parent: GraphQLNamedType | None,
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    max_page: int,
    multiplier: int,
    seen: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name.startswith("__"):
                continue  # introspection: static, cheap, and GraphiQL needs it
            field = parent.fields.get(name) if isinstance(parent, GraphQLObjectType) else None
            child = get_named_type(field.type) if field is not None else None
            size = _page_size(selection, field.args.get("first") if field else None, max_page)
            total += multiplier
            total += _cost(
                schema,
                child,
                selection.selection_set,
                fragments,
                max_page,
                multiplier * size,
                seen,
            )
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            on = schema.get_type(condition.name.value) if condition else parent
            total += _cost(
                schema, on, selection.selection_set, fragments, max_page, multiplier, seen
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue  # unknown or cyclic: other validation rules report those
            on = schema.get_type(fragment.type_condition.name.value)
            total += _cost(
                schema, on, fragment.selection_set, fragments, max_page, multiplier, seen | {name}
            )
    return total


def _page_size(node: FieldNode, argument: Any, max_page: int) -> int:
    if argument is None:
        return 1  # not a paginated field
    for given in node.arguments or ():
        if given.name.value == "first":
            if isinstance(given.value, IntValueNode):
                return max(1, min(int(given.value.value), max_page))
            return max_page
    default = argument.default_value
    return max(1, min(default, max_page)) if isinstance(default, int) else max_page


def cost_limit_rule(max_cost: int, *, max_page: int) -> type[ValidationRule]:
    """A graphql-core validation rule refusing operations that cost more than ``max_cost``."""

    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            cost = query_cost(self.context.schema, node, fragments, max_page=max_page)
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query cost {cost} exceeds the limit of {max_cost}: ask for fewer"
                        " items or fields",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost},
                    )
                )

    return CostLimit
