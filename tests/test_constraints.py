"""Marathon constraints: parsing with actionable errors, and every operator's decision."""

from __future__ import annotations

import functools
import re

import jsonschema_rs
import pytest

from hippo_core.backend import Offer
from hippo_core.constraints import (
    Constraint,
    ConstraintError,
    Operator,
    PlacedIndex,
    Placement,
    constraint_problems,
    json_schema,
    meets,
    parse_constraints,
)


def _python_regex(value: str) -> bool:
    # The server compiles with Python's re; a repetition past its limit overflows.
    try:
        re.compile(value)
    except (re.error, OverflowError):
        return False
    return True


# JSON Schema's own regex dialect (ECMA 262: "$" is the end of the text), as OpenAPI tools
# read the document, with "format": "regex" meaning what the server compiles.
DOCUMENT_READER = functools.partial(
    jsonschema_rs.Draft202012Validator, validate_formats=True, formats={"regex": _python_regex}
)


def offer(hostname: str = "a1", **attributes: str) -> Offer:
    return Offer(
        id=f"o-{hostname}",
        agent_id=f"ag-{hostname}",
        hostname=hostname,
        cpus=4,
        mem=4096,
        attributes=attributes,
    )


def at(hostname: str, **attributes: str) -> Placement:
    return Placement(hostname, attributes)


# (raw constraint, its stored form, what the case proves)
PARSE_OK = [
    (["hostname", "UNIQUE"], ["hostname", "UNIQUE"], "two-item form"),
    (["hostname", "unique"], ["hostname", "UNIQUE"], "operator is case-insensitive, stored upper"),
    (["hostname", "UNIQUE", ""], ["hostname", "UNIQUE"], "empty value means no value"),
    (["hostname", "UNIQUE", None], ["hostname", "UNIQUE"], "null value means no value"),
    (["rack", "CLUSTER"], ["rack", "CLUSTER"], "CLUSTER value is optional"),
    (["rack", "Cluster", "r1"], ["rack", "CLUSTER", "r1"], "CLUSTER with a value"),
    (["rack", "GROUP_BY"], ["rack", "GROUP_BY"], "GROUP_BY count is optional"),
    (["rack", "group_by", "3"], ["rack", "GROUP_BY", "3"], "GROUP_BY with a count"),
    (["rack", "LIKE", "rack-[1-3]"], ["rack", "LIKE", "rack-[1-3]"], "LIKE with a regex"),
    (["rack", "UNLIKE", ".*"], ["rack", "UNLIKE", ".*"], "UNLIKE with a regex"),
    (["rack", "MAX_PER", "2"], ["rack", "MAX_PER", "2"], "MAX_PER with a positive count"),
    (["rack", "IS", "r1"], ["rack", "IS", "r1"], "IS with a value"),
    (["rack", "equal", "r1"], ["rack", "EQUAL", "r1"], "old spelling EQUAL is kept as written"),
    (("@hostname", "UNIQUE"), ["@hostname", "UNIQUE"], "tuples and @hostname are accepted"),
]


@pytest.mark.parametrize(("raw", "stored", "proves"), PARSE_OK, ids=[c[2] for c in PARSE_OK])
def test_parse_accepts(raw: list, stored: list[str], proves: str) -> None:
    [constraint] = parse_constraints([raw])
    assert constraint.to_json() == stored


def test_parse_keeps_order_and_types() -> None:
    # Several constraints come back in order, as Constraint objects with Operator members.
    parsed = parse_constraints([["hostname", "UNIQUE"], ["rack", "max_per", "2"]])
    assert [c.operator for c in parsed] == [Operator.UNIQUE, Operator.MAX_PER]
    assert parsed[1].count == 2


@pytest.mark.parametrize("raw", [None, []], ids=["null", "empty list"])
def test_parse_no_constraints(raw: list | None) -> None:
    # A missing or empty constraint list means no constraints.
    assert parse_constraints(raw) == []


# (raw list, index of the bad item, text the message must contain, what the case proves)
PARSE_ERRORS = [
    (
        {"hostname": "UNIQUE"},
        None,
        "must be a list of [field, operator, value?] lists",
        "the list itself has the wrong type",
    ),
    (["hostname:UNIQUE"], 0, "must be a list [field, operator]", "an item that is not a list"),
    ([["hostname"]], 0, "2 or 3 items [field, operator, value?], got 1", "too few items"),
    ([["rack", "IS", "r1", "x"]], 0, "got 4", "too many items"),
    ([["", "UNIQUE"]], 0, "field must be a non-empty string", "empty field"),
    ([[7, "UNIQUE"]], 0, "field must be a non-empty string", "field that is not a string"),
    ([["hostname", 3]], 0, "operator must be a string, one of UNIQUE", "operator not a string"),
    (
        [["hostname", "UNIQE"]],
        0,
        "unknown operator 'UNIQE'; did you mean UNIQUE?",
        "a misspelt operator gets a suggestion",
    ),
    (
        [["hostname", "NEAR"]],
        0,
        "unknown operator 'NEAR'; operators: UNIQUE, CLUSTER",
        "an unknown operator lists the known ones",
    ),
    (
        [["hostname", "UNIQUE", "yes"]],
        0,
        "UNIQUE takes no value; remove 'yes'",
        "UNIQUE refuses a value",
    ),
    ([["rack", "LIKE"]], 0, "LIKE needs a regular expression value", "LIKE without a value"),
    (
        [["rack", "UNLIKE", ""]],
        0,
        "UNLIKE needs a regular expression value",
        "UNLIKE with an empty value",
    ),
    (
        [["rack", "LIKE", "rack-["]],
        0,
        "LIKE value 'rack-[' is not a valid regular expression",
        "a bad regex is refused at parse time",
    ),
    ([["rack", "MAX_PER"]], 0, "MAX_PER needs a positive integer value", "MAX_PER without value"),
    ([["rack", "MAX_PER", "0"]], 0, "got '0'", "MAX_PER zero"),
    ([["rack", "MAX_PER", "two"]], 0, "got 'two'", "MAX_PER not a number"),
    ([["rack", "MAX_PER", "-1"]], 0, "got '-1'", "MAX_PER negative"),
    ([["rack", "MAX_PER", "1.5"]], 0, "got '1.5'", "MAX_PER not an integer"),
    (
        [["rack", "MAX_PER", 2]],
        0,
        'value must be a string, got int 2; write it in quotes, e.g. "2"',
        "a JSON number where a string belongs",
    ),
    (
        [["rack", "IS", ["r1"]]],
        0,
        "value must be a string, got list ['r1']",
        "a JSON list where a string belongs",
    ),
    (
        [["rack", "GROUP_BY", "x"]],
        0,
        "GROUP_BY value must be a positive integer",
        "GROUP_BY count not a number",
    ),
    ([["rack", "GROUP_BY", "0"]], 0, "or left out; got '0'", "GROUP_BY count zero"),
    ([["rack", "IS"]], 0, "IS needs the exact value to match", "IS without a value"),
    ([["rack", "EQUAL"]], 0, "EQUAL needs the exact value to match", "EQUAL without a value"),
    (
        [["hostname", "UNIQUE"], ["rack", "BOGUS"]],
        1,
        "unknown operator 'BOGUS'",
        "the index points at the bad item, not the first",
    ),
]


@pytest.mark.parametrize(
    ("raw", "index", "message", "proves"), PARSE_ERRORS, ids=[c[3] for c in PARSE_ERRORS]
)
def test_parse_refuses(raw: object, index: int | None, message: str, proves: str) -> None:
    with pytest.raises(ConstraintError) as caught:
        parse_constraints(raw)
    assert caught.value.index == index
    assert message in caught.value.message
    expected_path = "constraints" if index is None else f"constraints/{index}"
    assert caught.value.path == expected_path
    assert str(caught.value).startswith(expected_path + ": ")


def test_problems_lists_every_bad_item() -> None:
    # An API can report all the problems at once, each with its own path.
    raw = [["rack", "LIKE"], ["hostname", "UNIQUE"], ["rack", "MAX_PER", "x"]]
    problems = constraint_problems(raw)
    assert [p.path for p in problems] == ["constraints/0", "constraints/2"]
    assert constraint_problems([["hostname", "UNIQUE"]]) == []


def test_constraint_built_directly_is_validated() -> None:
    # Building a Constraint by hand goes through the same rules as parsing.
    assert Constraint("rack", "like", "r.*").operator is Operator.LIKE
    with pytest.raises(ValueError, match="MAX_PER needs a positive integer"):
        Constraint("rack", "MAX_PER", "many")


# (constraint, offer, placed tasks of the group, None or text of the refusal, what it proves)
MEETS = [
    # UNIQUE
    (["hostname", "UNIQUE"], offer("a1"), [], None, "UNIQUE: nothing placed yet"),
    (["hostname", "UNIQUE"], offer("a1"), [at("a2")], None, "UNIQUE: other host is used"),
    (
        ["hostname", "UNIQUE"],
        offer("a1"),
        [at("a2"), at("a1")],
        "hostname a1 already runs a task of this group (UNIQUE)",
        "UNIQUE: host already used",
    ),
    (
        ["rack", "UNIQUE"],
        offer(rack="r2"),
        [at("a9", rack="r1")],
        None,
        "UNIQUE attribute: other value used",
    ),
    (
        ["rack", "UNIQUE"],
        offer("a1", rack="r1"),
        [at("a9", rack="r1")],
        "rack r1 already runs a task of this group (UNIQUE)",
        "UNIQUE attribute: value used",
    ),
    (
        ["rack", "UNIQUE"],
        offer("a1", rack="r1"),
        [at("a9")],
        None,
        "UNIQUE: a placed task without the attribute does not count",
    ),
    (
        ["rack", "UNIQUE"],
        offer("a1"),
        [],
        "agent a1 has no attribute rack (rack UNIQUE)",
        "UNIQUE refuses an agent lacking the attribute",
    ),
    # CLUSTER with a value
    (["rack", "CLUSTER", "r1"], offer(rack="r1"), [], None, "CLUSTER value: matching value"),
    (
        ["rack", "CLUSTER", "r1"],
        offer(rack="r2"),
        [],
        "rack r2 is not r1 (CLUSTER)",
        "CLUSTER value: other value",
    ),
    (["hostname", "CLUSTER", "a1"], offer("a1"), [], None, "CLUSTER hostname: named host"),
    (
        ["hostname", "CLUSTER", "a1"],
        offer("a2"),
        [],
        "hostname a2 is not a1 (CLUSTER)",
        "CLUSTER hostname: other host",
    ),
    # CLUSTER without a value: follow the first placed task
    (["rack", "CLUSTER"], offer(rack="r7"), [], None, "CLUSTER: first task may go anywhere"),
    (
        ["rack", "CLUSTER"],
        offer(rack="r1"),
        [at("a9", rack="r1"), at("a8", rack="r2")],
        None,
        "CLUSTER: the first task's value is accepted",
    ),
    (
        ["rack", "CLUSTER"],
        offer(rack="r2"),
        [at("a9", rack="r1"), at("a8", rack="r2")],
        "this group runs on rack r1, not r2 (CLUSTER)",
        "CLUSTER: follows the first task only",
    ),
    (
        ["rack", "CLUSTER"],
        offer(rack="r1"),
        [at("a9")],
        "the group's first task runs on an agent without rack; none can join it (CLUSTER)",
        "CLUSTER: first task on an agent without the attribute",
    ),
    (
        ["hostname", "CLUSTER"],
        offer("a2"),
        [at("a1")],
        "this group runs on hostname a1, not a2 (CLUSTER)",
        "CLUSTER hostname without value",
    ),
    (
        ["rack", "CLUSTER"],
        offer("a1"),
        [],
        "agent a1 has no attribute rack (rack CLUSTER)",
        "CLUSTER refuses an agent lacking the attribute",
    ),
    # GROUP_BY
    (["rack", "GROUP_BY"], offer(rack="r1"), [], None, "GROUP_BY: nothing placed yet"),
    (
        ["rack", "GROUP_BY"],
        offer(rack="r3"),
        [at("x", rack="r1"), at("y", rack="r2")],
        None,
        "GROUP_BY: a value not in use yet is always welcome",
    ),
    (
        ["rack", "GROUP_BY"],
        offer(rack="r1"),
        [at("x", rack="r1"), at("y", rack="r2")],
        None,
        "GROUP_BY: even spread, any used value may take one more",
    ),
    (
        ["rack", "GROUP_BY"],
        offer(rack="r1"),
        [at("x", rack="r1"), at("y", rack="r1"), at("z", rack="r2")],
        "rack r1 runs 2 tasks of this group, another value runs 1 (GROUP_BY)",
        "GROUP_BY: the busier value is refused",
    ),
    (
        ["rack", "GROUP_BY"],
        offer(rack="r2"),
        [at("x", rack="r1"), at("y", rack="r1"), at("z", rack="r2")],
        None,
        "GROUP_BY: the least used value is accepted",
    ),
    (
        ["rack", "GROUP_BY", "3"],
        offer(rack="r1"),
        [at("x", rack="r1")],
        "only 1 of 3 rack values are in use; waiting for another (GROUP_BY 3)",
        "GROUP_BY count: a used value waits until enough values are in use",
    ),
    (
        ["rack", "GROUP_BY", "3"],
        offer(rack="r2"),
        [at("x", rack="r1")],
        None,
        "GROUP_BY count: a new value is accepted",
    ),
    (
        ["rack", "GROUP_BY", "2"],
        offer(rack="r1"),
        [at("x", rack="r1"), at("y", rack="r2")],
        None,
        "GROUP_BY count: reached, so an even spread grows",
    ),
    (
        ["rack", "GROUP_BY"],
        offer(rack="r1"),
        [at("x", rack="r1"), at("y")],
        None,
        "GROUP_BY: placed tasks without the attribute are not a value of their own",
    ),
    (
        ["hostname", "GROUP_BY"],
        offer("a1"),
        [at("a1"), at("a1"), at("a2")],
        "hostname a1 runs 2 tasks of this group, another value runs 1 (GROUP_BY)",
        "GROUP_BY on hostname",
    ),
    (
        ["rack", "GROUP_BY"],
        offer("a1"),
        [],
        "agent a1 has no attribute rack (rack GROUP_BY)",
        "GROUP_BY refuses an agent lacking the attribute",
    ),
    # LIKE / UNLIKE: the whole value must match
    (["rack", "LIKE", "rack-[1-3]"], offer(rack="rack-2"), [], None, "LIKE: full match"),
    (
        ["rack", "LIKE", "rack-[1-3]"],
        offer(rack="rack-10"),
        [],
        "rack rack-10 does not match rack-[1-3] (LIKE)",
        "LIKE: a prefix match is not enough",
    ),
    (
        ["rack", "LIKE", "1"],
        offer(rack="r1"),
        [],
        "rack r1 does not match 1 (LIKE)",
        "LIKE: a match inside the value is not enough",
    ),
    (
        ["rack", "LIKE", "a|bc"],
        offer(rack="bc"),
        [],
        None,
        "LIKE: alternation is anchored as a whole",
    ),
    (["hostname", "LIKE", r"web-\d+"], offer("web-12"), [], None, "LIKE on hostname"),
    (
        ["rack", "LIKE", ".*"],
        offer("a1"),
        [],
        "agent a1 has no attribute rack (rack LIKE .*)",
        "LIKE refuses an agent lacking the attribute, even for .*",
    ),
    (["rack", "UNLIKE", "rack-[7-9]"], offer(rack="rack-1"), [], None, "UNLIKE: no match"),
    (
        ["rack", "UNLIKE", "rack-[7-9]"],
        offer(rack="rack-8"),
        [],
        "rack rack-8 matches rack-[7-9] (UNLIKE)",
        "UNLIKE: match is refused",
    ),
    (
        ["rack", "UNLIKE", "rack"],
        offer(rack="rack-8"),
        [],
        None,
        "UNLIKE: a partial match is not a match",
    ),
    (
        ["rack", "UNLIKE", ".*"],
        offer("a1"),
        [],
        None,
        "UNLIKE accepts an agent lacking the attribute",
    ),
    # MAX_PER
    (
        ["rack", "MAX_PER", "2"],
        offer(rack="r1"),
        [at("x", rack="r1")],
        None,
        "MAX_PER: below the limit",
    ),
    (
        ["rack", "MAX_PER", "2"],
        offer(rack="r1"),
        [at("x", rack="r1"), at("y", rack="r1")],
        "rack r1 already runs 2 tasks of this group (MAX_PER 2)",
        "MAX_PER: at the limit",
    ),
    (
        ["rack", "MAX_PER", "2"],
        offer(rack="r2"),
        [at("x", rack="r1"), at("y", rack="r1")],
        None,
        "MAX_PER: the limit is per value",
    ),
    (
        ["hostname", "MAX_PER", "1"],
        offer("a1"),
        [at("a1")],
        "hostname a1 already runs 1 tasks of this group (MAX_PER 1)",
        "MAX_PER on hostname",
    ),
    (
        ["rack", "MAX_PER", "2"],
        offer("a1"),
        [],
        "agent a1 has no attribute rack (rack MAX_PER 2)",
        "MAX_PER refuses an agent lacking the attribute",
    ),
    # IS / EQUAL: exact text
    (["rack", "IS", "r1"], offer(rack="r1"), [], None, "IS: exact match"),
    (
        ["rack", "IS", "r1"],
        offer(rack="r10"),
        [],
        "rack r10 is not r1 (IS)",
        "IS: not a prefix or regex match",
    ),
    (
        ["rack", "IS", "r.*"],
        offer(rack="r1"),
        [],
        "rack r1 is not r.* (IS)",
        "IS: the value is not a regex",
    ),
    (
        ["cores", "IS", "{a,b}"],
        offer(cores="{a,b}"),
        [],
        None,
        "IS compares SET attributes as rendered text",
    ),
    (["hostname", "IS", "a1"], offer("a1"), [], None, "IS on hostname"),
    (["rack", "EQUAL", "r1"], offer(rack="r1"), [], None, "EQUAL: exact match like IS"),
    (
        ["rack", "EQUAL", "r1"],
        offer(rack="r2"),
        [],
        "rack r2 is not r1 (EQUAL)",
        "EQUAL: refuses like IS",
    ),
    (
        ["rack", "IS", "r1"],
        offer("a1"),
        [],
        "agent a1 has no attribute rack (rack IS r1)",
        "IS refuses an agent lacking the attribute",
    ),
]


@pytest.mark.parametrize(
    ("raw", "the_offer", "placed", "refusal", "proves"), MEETS, ids=[c[4] for c in MEETS]
)
def test_meets(
    raw: list, the_offer: Offer, placed: list[Placement], refusal: str | None, proves: str
) -> None:
    result = meets(parse_constraints([raw]), the_offer, placed)
    if refusal is None:
        assert result is None
    else:
        assert result is not None
        assert refusal in result


def test_meets_reports_the_first_failing_constraint() -> None:
    # With several constraints, the reason names the first one the offer fails.
    constraints = parse_constraints([["rack", "LIKE", "r.*"], ["hostname", "UNIQUE"], ["rack", "IS", "r9"]])
    assert meets(constraints, offer("a1", rack="r1"), [at("a1", rack="r1")]) == (
        "hostname a1 already runs a task of this group (UNIQUE)"
    )
    assert meets(constraints, offer("a2", rack="r1"), []) == "rack r1 is not r9 (IS)"
    assert meets(constraints, offer("a2", rack="r9"), []) is None


def test_no_constraints_accept_any_offer() -> None:
    assert meets([], offer("a1"), [at("a1")]) is None


def test_placed_index_stays_current_after_add() -> None:
    # Counts and the fewest-per-value cache follow tasks added after they were first read.
    index = PlacedIndex([at("x", rack="r1"), at("y", rack="r2")])
    assert index.counts("rack") == {"r1": 1, "r2": 1}
    assert index.fewest("rack") == 1
    index.add(at("z", rack="r2"))
    index.add(at("w"))
    assert index.counts("rack") == {"r1": 1, "r2": 2}
    assert index.counts("hostname") == {"x": 1, "y": 1, "z": 1, "w": 1}
    index.add(at("v", rack="r1"))
    assert index.fewest("rack") == 2
    assert len(index) == 5
    assert index.first == at("x", rack="r1")


# (constraint, what the case proves): the JSON schema of one constraint and the parser agree.
SCHEMA_AGREES = [
    (["hostname", "UNIQUE"], "no value"),
    (["hostname", "UNIQUE", ""], "an empty value is no value"),
    (["hostname", "UNIQUE", "x"], "UNIQUE takes no value"),
    (["rack", "CLUSTER"], "CLUSTER without a value"),
    (["rack", "CLUSTER", "r 1"], "CLUSTER with any text"),
    (["rack", "GROUP_BY"], "GROUP_BY without a count"),
    (["rack", "GROUP_BY", ""], "GROUP_BY with an empty count"),
    (["rack", "GROUP_BY", "007"], "GROUP_BY count with leading zeros"),
    (["rack", "GROUP_BY", "0"], "GROUP_BY count of zero"),
    (["rack", "GROUP_BY", "-2"], "GROUP_BY negative count"),
    (["rack", "GROUP_BY", "2\n"], "GROUP_BY count and a line break"),
    (["rack", "MAX_PER", "3"], "MAX_PER with a count"),
    (["rack", "MAX_PER"], "MAX_PER without a count"),
    (["rack", "MAX_PER", ""], "MAX_PER with an empty count"),
    (["rack", "MAX_PER", "three"], "MAX_PER with a word"),
    (["rack", "LIKE", "rack-[1-3]"], "LIKE with a regex"),
    (["rack", "LIKE"], "LIKE without a regex"),
    (["rack", "LIKE", ""], "LIKE with an empty regex"),
    (["rack", "UNLIKE", "(x"], "UNLIKE with a regex that does not compile"),
    (["rack", "IS", "r1"], "IS with a value"),
    (["rack", "EQUAL"], "EQUAL without a value"),
    (["rack", "SOMETIMES", "x"], "an unknown operator"),
    (["", "UNIQUE"], "an empty field"),
    (["rack"], "one item"),
    (["rack", "IS", "a", "b"], "four items"),
    (["rack", "IS", 3], "a number as value"),
]


@pytest.mark.parametrize("raw", [c[0] for c in SCHEMA_AGREES], ids=[c[1] for c in SCHEMA_AGREES])
def test_json_schema_agrees_with_the_parser(raw: list) -> None:
    """What /openapi.json says of a constraint is what the server checks (but a regex's
    syntax, which the schema names as its format)."""
    schema_valid = DOCUMENT_READER(json_schema()).is_valid(raw)
    assert schema_valid == (constraint_problems([raw]) == [])


def test_json_schema_names_every_operator_as_stored() -> None:
    branches = json_schema()["anyOf"]
    assert [b["prefixItems"][1]["const"] for b in branches] == [op.value for op in Operator]


@pytest.mark.parametrize("regex", ["a{99999999999}", "(x", "a)"])
def test_a_regex_python_cannot_compile_is_a_problem_not_a_crash(regex: str) -> None:
    [problem] = constraint_problems([["rack", "LIKE", regex]])
    assert "not a valid regular expression" in problem.message
