"""The Grafana dashboard under deploy/grafana/ only queries metrics the gateway exports: every
expression in it (panel targets and template queries) names at least one metric, and every
metric it names is in a real scrape of the gateway binary's /metrics."""
import json
import os
import re

from prometheus_client.parser import text_string_to_metric_families

from test_metrics import ACME_KEY, Gateway

DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "grafana", "portcullis-dashboard.json")
METRIC = re.compile(r"\b((?:portcullis|gen_ai)_[a-z0-9_]+)\b")


def expressions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str) and "label_values" in value:
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from expressions(value)


def exported_names(text):
    names = set()
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def test_every_dashboard_expression_names_an_exported_metric(mock):
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    exprs = list(expressions(dashboard))
    assert len(exprs) >= 10
    gw = Gateway(mock.port)
    try:
        assert gw.chat(ACME_KEY)[0] == 200
        status, body = gw.request("GET", "/metrics", port=gw.admin)
        assert status == 200
        exported = exported_names(body.decode())
    finally:
        gw.stop()
    for expr in exprs:
        named = set(METRIC.findall(expr))
        assert named, f"names no metric: {expr}"
        missing = named - exported
        assert not missing, f"{expr} names {missing}, not exported"
