"""Pure text helpers (deployforge/text.py)."""


def test_json_text_is_the_same_json_with_deep_values_on_one_line():
    import json

    from deployforge.text import json_text

    doc = {
        "command": "validate",
        "policy": {"findings": [{"rule_id": "R1", "line": 3, "metadata": {"tags": ["a", "b"]}}], "counts": {}},
        "messages": ["é \u2028 <!-- x -->"],
        "empty": [],
        "none": None,
        "when": __import__("datetime").date(2026, 12, 5),
    }
    text = json_text(doc)
    assert json.loads(text) == json.loads(json.dumps(doc, default=str))
    lines = text.splitlines()
    assert '      {"rule_id": "R1", "line": 3, "metadata": {"tags": ["a", "b"]}}' in lines  # a finding, one line
    assert '  "policy": {' in lines and '  "empty": [],' in lines
    assert "\\u00e9" in text and "\\u2028" in text  # escaped as json.dumps does: safe in any log
    keys = {"x": {True: 1, None: 2, 3: 4, 1.5: 5}, "y": {1: "one", 0: "zero"}}
    assert json.loads(json_text(keys, levels=2)) == json.loads(json.dumps(keys))
