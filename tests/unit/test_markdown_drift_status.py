"""The PR comment's drift section counts NOT_CHECKED records as unreadable, never as drift."""

from __future__ import annotations

from types import SimpleNamespace

from deployforge.render.markdown import drift_section


class _Drift:
    def __init__(self, records):
        self.records = records

    def to_json(self):
        return {"records": self.records, "resources_checked": 3}


def test_not_checked_records_are_flagged_not_counted_as_drift():
    records = [
        {
            "id": "DF-AAA-AAA",
            "resource": "aws_s3_bucket.logs",
            "status": "NOT_CHECKED",
            "severity": None,
            "error": "AccessDenied",
            "changes": [],
        },
        {
            "id": "DF-BBB-BBB",
            "resource": "aws_autoscaling_group.web",
            "status": "MODIFIED",
            "severity": "performance-impacting",
            "changes": [{"path": "desired_capacity"}],
        },
    ]
    section = drift_section(SimpleNamespace(drift=_Drift(records)))
    text = " ".join(str(v) for v in vars(section).values())
    assert "1 not checked" in text
    assert "aws_s3_bucket.logs" in text and "not checked: AccessDenied" in text
