"""The alarms: what they watch, when they fire, and where they notify."""

from __future__ import annotations

from typing import Any

from ecr_janitor.constants import METRICS_NAMESPACE
from tests.infra.cdk_support import Synth, Synthesized

SERVICE = [{"Name": "service", "Value": "ecr-janitor"}]


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Alarm properties by the name's suffix (EcrJanitor-<suffix>)."""
    return {
        props["AlarmName"].removeprefix("EcrJanitor-"): props
        for props in (r["Properties"] for r in synthesized.resources("AWS::CloudWatch::Alarm").values())
    }


def test_the_ten_alarms(default: Synthesized) -> None:
    assert sorted(_alarms(default)) == [
        "ArchiveFailures",
        "DeleteFailures",
        "DurationNearTimeout",
        "FailedInvocations",
        "FunctionErrors",
        "InUseSourcesFailed",
        "NoRecentRun",
        "PoliciesHeld",
        "PolicyImagesAtRisk",
        "RepositoriesFailed",
    ]


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery(default: Synthesized) -> None:
    (topic_id,) = default.resources("AWS::SNS::Topic")
    for name, alarm in _alarms(default).items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["OKActions"] == [{"Ref": topic_id}], name
        assert alarm["AlarmDescription"], name


def test_janitor_failures_alarm_on_the_first_one(default: Synthesized) -> None:
    alarms = _alarms(default)
    for name in (
        "RepositoriesFailed",
        "DeleteFailures",
        "ArchiveFailures",
        "InUseSourcesFailed",
        "PoliciesHeld",
        "PolicyImagesAtRisk",
    ):
        alarm = alarms[name]
        assert alarm["Namespace"] == METRICS_NAMESPACE
        assert alarm["MetricName"] == name
        assert alarm["Dimensions"] == SERVICE
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Period"] == 3600
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] == 0
        assert alarm["TreatMissingData"] == "notBreaching"


def test_function_errors(default: Synthesized) -> None:
    alarm = _alarms(default)["FunctionErrors"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    (function_id,) = default.resources("AWS::Lambda::Function")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_no_completed_run_in_26_hours(default: Synthesized) -> None:
    alarm = _alarms(default)["NoRecentRun"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (METRICS_NAMESPACE, "RunDurationSeconds")
    assert alarm["Dimensions"] == SERVICE
    assert alarm["Statistic"] == "SampleCount"
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"  # no data point is exactly what this alarm is for


def test_duration_near_the_timeout(default: Synthesized) -> None:
    alarm = _alarms(default)["DurationNearTimeout"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Lambda",
        "Duration",
        "Maximum",
    )
    timeout_ms = default.only("AWS::Lambda::Function")["Properties"]["Timeout"] * 1000
    assert alarm["Threshold"] == 0.8 * timeout_ms == 720_000


def test_failed_invocations_in_the_failure_queue(default: Synthesized) -> None:
    alarm = _alarms(default)["FailedInvocations"]
    (queue_id,) = default.resources("AWS::SQS::Queue")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]


def test_topic_accepts_only_tls_and_has_no_subscription_by_default(default: Synthesized) -> None:
    (topic_id,) = default.resources("AWS::SNS::Topic")
    (statement,) = default.only("AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == {"Ref": topic_id}
    assert default.resources("AWS::SNS::Subscription") == {}


def test_alarm_email_from_the_context_subscribes_to_the_topic(synth: Synth) -> None:
    synthesized = synth(alarm_email="ops@example.com")
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")
    subscription = synthesized.only("AWS::SNS::Subscription")["Properties"]
    assert subscription == {"Protocol": "email", "TopicArn": {"Ref": topic_id}, "Endpoint": "ops@example.com"}
