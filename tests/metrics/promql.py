"""A small PromQL metric-name extractor, for checking dashboards and rules against /metrics.

Not a parser: it blanks what cannot hold a metric name (strings, label matchers, range and
subquery brackets, Grafana variables, `by (...)`-style label lists), then keeps identifiers
that are not function calls, keywords or the unit letters of numbers and durations.
"""

from __future__ import annotations

import re

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "atan2",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.S)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or Grafana `label_values(expr, label)`) reads."""
    m = _LABEL_VALUES.match(expr)
    if m:
        expr = m.group(1)
    s = _STRING.sub('""', expr)
    s = _GRAFANA_VAR.sub("1", s)
    s = _MATCHERS.sub("{}", s)
    s = _BRACKETS.sub("[]", s)
    s = _LABEL_LIST.sub(r"\1", s)
    names = set()
    for ident in _IDENT.finditer(s):
        word, before = ident.group(), s[: ident.start()]
        after = s[ident.end() :].lstrip()
        if word in KEYWORDS or after.startswith("(") or re.match(r"(by|without)\b", after):
            continue  # a keyword, a function call, or an aggregation: `sum by (x) (...)`
        if before and (before[-1].isdigit() or before[-1] == "."):
            continue  # 1e3, 0x1f, 5m
        names.add(word)
    return names


def rule_exprs(text: str) -> list[tuple[str, str]]:
    """(alert, expr) of each rule of a Prometheus rules file laid out like `alerts.yml`: the
    expression inline after `expr:` or as a folded block (`>-`) below it. (No YAML library is
    a dependency of the project; promtool checks the file's YAML itself.)"""
    out: list[tuple[str, str]] = []
    alert = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        named = re.match(r"\s*-\s*alert:\s*(\S+)", line)
        if named:
            alert = named.group(1)
        expr = re.match(r"(\s*)expr:\s*(.*?)\s*$", line)
        i += 1
        if not expr:
            continue
        indent, value = len(expr.group(1)), expr.group(2)
        if value in (">-", ">", "|-", "|"):
            block = []
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                block.append(lines[i].strip())
                i += 1
            value = " ".join(part for part in block if part)
        out.append((alert, value))
    return out
