"""The OpenAPI document Kirby publishes at /api/schema/, read as JSON Schema to hold real responses against.

Strict on purpose: every documented property must be present (drf-spectacular
lists them as required) and no undocumented one may appear, so a response
and its documentation cannot drift apart in either direction.
"""

from datetime import datetime

from jsonschema import Draft202012Validator, FormatChecker

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _utc_time(text):
    # API.md: ISO-8601 UTC with a Z suffix everywhere. (Formats constrain strings only; "type" checks the rest.)
    if not isinstance(text, str):
        return True
    return text.endswith("Z") and datetime.fromisoformat(text) is not None


def published(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operation(document, path, method="get"):
    return document["paths"][path][method]


def response_schema(document, path, status="200", method="get", content="application/json"):
    """The resolved JSON Schema of one documented response body."""
    node = operation(document, path, method)["responses"][status]["content"][content]["schema"]
    return resolved(node, document["components"]["schemas"])


def component_schema(document, name):
    return resolved({"$ref": f"#/components/schemas/{name}"}, document["components"]["schemas"])


def resolved(node, components):
    """``node`` with references inlined, OpenAPI 3.0's ``nullable`` as a null type, and no extra properties."""
    if isinstance(node, list):
        return [resolved(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return resolved(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {key: resolved(value, components) for key, value in node.items() if key not in ("nullable", "readOnly")}
    if "properties" in out:
        out.setdefault("additionalProperties", False)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def assert_documented(body, schema):
    """``body`` conforms to ``schema``; all the disagreements are reported at once."""
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft202012Validator(schema, format_checker=FORMATS).iter_errors(body)
    ]
    assert not errors, "response differs from /api/schema/:\n" + "\n".join(errors)
