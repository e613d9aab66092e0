"""The opt-in fan-out (`-c fanOut=true`): the state machine's definition, the events it sends (checked
against the handler's own event models), the schedule, IAM, the run bucket and reserved concurrency.
Without the flag, none of it exists."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ecr_janitor.constants import (
    ENV_FANOUT_CONCURRENCY,
    ENV_FANOUT_SLICE_SIZE,
    ENV_RUN_BUCKET,
    METRICS_NAMESPACE,
)
from ecr_janitor.events import PrepareStep, SummaryStep, WorkerStep, parse_event
from infra.fanout import RUN_RETENTION, TOLERATED_FAILURE_PERCENTAGE
from infra.settings import FanOutSettings
from tests.infra.cdk_support import (
    Synth,
    Synthesized,
    alarm_metrics,
    dashboard_body,
    dashboard_metrics,
    placeholder,
    policy_statements,
    state_machine_definition,
)

RUN_ID = "3f1c0d2e-9b8a-4c7d-8e6f-5a4b3c2d1e0f"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:FanOutStateMachine-AbC123"
CONTEXT: dict[str, Any] = {
    "Execution": {
        "Name": RUN_ID,
        "StartTime": "2026-11-25T03:00:00.123Z",
        "Id": f"arn:aws:states:us-east-1:123456789012:execution:FanOutStateMachine-AbC123:{RUN_ID}",
        "Input": {},
    },
    "StateMachine": {"Id": MACHINE},
}
PREPARED: dict[str, Any] = {
    "runId": RUN_ID,
    "bucket": "ecrjanitor-fanoutruns-1a2b3c",
    "slicesKey": f"runs/{RUN_ID}/slices.json",
    "inUseKey": f"runs/{RUN_ID}/in-use.json",
    "resultsPrefix": f"runs/{RUN_ID}/results",
    "slices": 3,
    "repositories": 1200,
    "unmatched": 7,
    "carriedOver": 0,
    "dryRun": True,
    "dryRunReason": "config dryRun is true (the default)",
    "startedAt": "2026-11-25T03:00:00.123000+00:00",
    "regionFailures": [],
    "inUseSourcesFailed": 0,
}
"""What fanout.prepare returns (tests/integration/test_fanout.py checks the keys the machine reads)."""
SLICE: dict[str, Any] = {
    "region": "us-east-1",
    "repositories": [{"name": "team/api", "arn": "arn:aws:ecr:us-east-1:123456789012:repository/team/api"}],
}
READS_FROM_PREPARE = {"runId", "dryRun", "startedAt", "slices", "slicesKey", "resultsPrefix"}
READS_FROM_SUMMARY = {"workersFailed", "message"}


def resolve(template: Any, state: Any, context: dict[str, Any]) -> Any:
    """Step Functions' JSONPath Parameters: every `key.$` takes the value at its path ($ or $$)."""
    if isinstance(template, dict):
        return {
            key.removesuffix(".$"): select(value, state, context)
            if key.endswith(".$")
            else resolve(value, state, context)
            for key, value in template.items()
        }
    return template


def select(path: str, state: Any, context: dict[str, Any]) -> Any:
    root, rest = (context, path[3:]) if path.startswith("$$.") else (state, path[2:])
    value = root
    for part in filter(None, rest.split(".")):
        value = value[part]
    return value


def paths(node: Any) -> set[str]:
    """Every `$.x` path (first segment) a part of the definition reads from its state."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if (key.endswith(".$") or key in ("Variable", "CausePath")) and isinstance(value, str):
                if value.startswith("$.") and not value.startswith("$.ResultWriterDetails"):
                    found.add(value[2:].split(".")[0])
            else:
                found |= paths(value)
    elif isinstance(node, list):
        for item in node:
            found |= paths(item)
    return found


@pytest.fixture(scope="module")
def states(fanned: Synthesized) -> dict[str, Any]:
    definition = state_machine_definition(fanned)
    assert definition["StartAt"] == "Prepare"
    found: dict[str, Any] = definition["States"]
    return found


@pytest.fixture(scope="module")
def ids(fanned: Synthesized) -> dict[str, str]:
    """Logical ids of the resources the definition refers to."""
    (function,) = fanned.resources("AWS::Lambda::Function")
    (bucket,) = fanned.resources("AWS::S3::Bucket")
    (machine,) = fanned.resources("AWS::StepFunctions::StateMachine")
    return {"function": function, "bucket": bucket, "machine": machine}


# -- without the flag ---------------------------------------------------------------------------------


def test_the_default_stack_has_no_fan_out(default: Synthesized) -> None:
    for kind in ("AWS::StepFunctions::StateMachine", "AWS::S3::Bucket"):
        assert default.resources(kind) == {}
    function = default.only("AWS::Lambda::Function")["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1
    assert ENV_RUN_BUCKET not in function["Environment"]["Variables"]
    assert "StateMachineArn" not in default.json["Outputs"]


# -- the state machine --------------------------------------------------------------------------------


def test_the_flow(states: dict[str, Any]) -> None:
    assert set(states) == {
        "Prepare",
        "AnySlices",
        "Slices",
        "NoSlices",
        "Summary",
        "AllWorkersDone",
        "WorkersFailed",
        "Done",
    }
    assert states["Prepare"]["Next"] == "AnySlices"
    (any_slices,) = states["AnySlices"]["Choices"]
    assert any_slices == {"Variable": "$.slices", "NumericGreaterThan": 0, "Next": "Slices"}
    assert states["AnySlices"]["Default"] == "NoSlices"
    assert states["Slices"]["Next"] == states["NoSlices"]["Next"] == "Summary"
    assert states["Summary"]["Next"] == "AllWorkersDone"
    (failed,) = states["AllWorkersDone"]["Choices"]
    assert failed == {"Variable": "$.workersFailed", "NumericGreaterThan": 0, "Next": "WorkersFailed"}
    assert states["AllWorkersDone"]["Default"] == "Done"
    assert states["WorkersFailed"] == {
        "Type": "Fail",
        "Comment": states["WorkersFailed"]["Comment"],
        "Error": "WorkersFailed",
        "CausePath": "$.message",
    }
    assert states["Done"] == {"Type": "Succeed"}


def test_slices_is_a_distributed_map_over_the_slices_file_in_the_run_bucket(
    states: dict[str, Any], ids: dict[str, str]
) -> None:
    slices = states["Slices"]
    assert slices["Type"] == "Map"
    assert slices["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert slices["ItemReader"] == {
        "Resource": "arn:${AWS::Partition}:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "${" + ids["bucket"] + "}", "Key.$": "$.slicesKey"},
    }
    assert slices["MaxConcurrency"] == FanOutSettings().concurrency == 4
    assert slices["ToleratedFailurePercentage"] == TOLERATED_FAILURE_PERCENTAGE == 100
    assert slices["ResultWriter"] == {
        "Resource": "arn:${AWS::Partition}:states:::s3:putObject",
        "Parameters": {"Bucket": "${" + ids["bucket"] + "}", "Prefix.$": "$.resultsPrefix"},
    }
    assert slices["ResultSelector"] == {"manifestKey.$": "$.ResultWriterDetails.Key"}
    assert slices["ResultPath"] == "$.results"


def test_every_step_invokes_the_same_function_with_its_step_name(
    states: dict[str, Any], ids: dict[str, str]
) -> None:
    function = "${" + ids["function"] + ".Arn}"
    worker = states["Slices"]["ItemProcessor"]["States"]["CleanSlice"]
    assert states["Slices"]["ItemProcessor"]["StartAt"] == "CleanSlice"
    tasks = {"Prepare": states["Prepare"], "CleanSlice": worker, "Summary": states["Summary"]}
    for name, task in tasks.items():
        assert task["Type"] == "Task", name
        assert task["Resource"] == "arn:${AWS::Partition}:states:::lambda:invoke", name
        assert task["Parameters"]["FunctionName"] == function, name
        assert task["OutputPath"] == "$.Payload", name
        throttled = [r for r in task["Retry"] if r["ErrorEquals"] == ["Lambda.TooManyRequestsException"]]
        assert throttled, f"{name} gives up when Lambda throttles"
    assert states["Prepare"]["Parameters"]["Payload"]["fanOut"]["step"] == "prepare"
    assert worker["Parameters"]["Payload.$"] == "$"
    assert states["Slices"]["ItemSelector"]["fanOut"]["step"] == "worker"
    assert states["Summary"]["Parameters"]["Payload"]["fanOut"]["step"] == "summary"


def test_prepare_gets_the_run_id_the_overlap_guard_and_the_execution_input(states: dict[str, Any]) -> None:
    assert states["Prepare"]["Parameters"]["Payload"] == {
        "fanOut": {
            "step": "prepare",
            "runId.$": "$$.Execution.Name",
            "startedAt.$": "$$.Execution.StartTime",
            "executionArn.$": "$$.Execution.Id",
            "stateMachineArn.$": "$$.StateMachine.Id",
            "input.$": "$$.Execution.Input",
        }
    }


def test_the_events_the_machine_sends_are_ones_the_handler_accepts(states: dict[str, Any]) -> None:
    """Resolve each payload as Step Functions does, then parse it with the handler's own models."""
    prepare = parse_event(resolve(states["Prepare"]["Parameters"]["Payload"], {}, CONTEXT))
    assert isinstance(prepare.fan_out, PrepareStep)
    assert prepare.fan_out.run_id == RUN_ID
    assert prepare.fan_out.state_machine_arn == MACHINE
    assert prepare.forces_dry_run is False  # the schedule's {} : the config decides

    dry = {**CONTEXT, "Execution": {**CONTEXT["Execution"], "Input": {"dryRun": True}}}
    assert parse_event(resolve(states["Prepare"]["Parameters"]["Payload"], {}, dry)).forces_dry_run

    for dry_run in (True, False):
        item = resolve(
            states["Slices"]["ItemSelector"],
            {**PREPARED, "dryRun": dry_run},
            {"Map": {"Item": {"Index": 2, "Value": SLICE}}},
        )
        worker = parse_event(item)  # CleanSlice passes the item on as is ("Payload.$": "$")
        assert isinstance(worker.fan_out, WorkerStep)
        assert (worker.fan_out.run_id, worker.fan_out.slice_index) == (RUN_ID, 2)
        assert worker.fan_out.slice.repositories[0].name == "team/api"
        assert worker.forces_dry_run is dry_run  # the run's dry run reaches every worker

    map_output = {"MapRunArn": "arn:...", "ResultWriterDetails": {"Bucket": "b", "Key": "runs/x/m.json"}}
    after_map = {**PREPARED, "results": resolve(states["Slices"]["ResultSelector"], map_output, {})}
    summary = parse_event(resolve(states["Summary"]["Parameters"]["Payload"], after_map, {}))
    assert isinstance(summary.fan_out, SummaryStep)
    assert summary.fan_out.results.manifest_key == "runs/x/m.json"
    assert summary.forces_dry_run is True

    no_slices = {**PREPARED, "slices": 0, "results": states["NoSlices"]["Result"]}
    summary = parse_event(resolve(states["Summary"]["Parameters"]["Payload"], no_slices, {}))
    assert isinstance(summary.fan_out, SummaryStep)
    assert summary.fan_out.results.manifest_key is None


def test_the_machine_reads_only_what_prepare_and_summary_return(states: dict[str, Any]) -> None:
    after_prepare = {
        k: v for k, v in states.items() if k not in ("Prepare", "AllWorkersDone", "WorkersFailed")
    }
    assert paths(after_prepare) - {"results"} == READS_FROM_PREPARE
    assert paths({k: states[k] for k in ("AllWorkersDone", "WorkersFailed")}) == READS_FROM_SUMMARY


@pytest.mark.parametrize(("concurrency", "slice_size"), [(1, 10), (7, 250), (50, 1000)])
def test_concurrency_and_slice_size_come_from_the_settings(
    synth: Synth, concurrency: int, slice_size: int
) -> None:
    stack = synth(fan_out=FanOutSettings(concurrency=concurrency, slice_size=slice_size))
    assert state_machine_definition(stack)["States"]["Slices"]["MaxConcurrency"] == concurrency
    function = stack.only("AWS::Lambda::Function")["Properties"]
    # The map's workers plus one, and no more: Lambda throttles a second run's workers.
    assert function["ReservedConcurrentExecutions"] == concurrency + 1
    variables = function["Environment"]["Variables"]
    assert variables[ENV_FANOUT_CONCURRENCY] == str(concurrency)
    assert variables[ENV_FANOUT_SLICE_SIZE] == str(slice_size)


def test_a_standard_state_machine_logging_everything_with_tracing(fanned: Synthesized) -> None:
    machine = fanned.only("AWS::StepFunctions::StateMachine")["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    logging = machine["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True)
    (destination,) = logging["Destinations"]
    (log_group_id,) = [
        k for k, v in fanned.resources("AWS::Logs::LogGroup").items() if "vendedlogs" in json.dumps(v)
    ]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    log_group = fanned.resources("AWS::Logs::LogGroup")[log_group_id]["Properties"]
    assert log_group["LogGroupName"] == "/aws/vendedlogs/states/EcrJanitor-FanOut"
    assert log_group["RetentionInDays"] == 90


# -- schedule, function, IAM, bucket ------------------------------------------------------------------


def test_the_schedule_starts_the_state_machine_instead_of_the_function(
    fanned: Synthesized, ids: dict[str, str]
) -> None:
    target = fanned.only("AWS::Scheduler::Schedule")["Properties"]["Target"]
    assert target["Arn"] == {"Ref": ids["machine"]}
    assert json.loads(target["Input"]) == {}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600}
    assert fanned.resources("AWS::Lambda::Permission") == {}  # the schedule doesn't invoke the function
    (queue_id,) = fanned.resources("AWS::SQS::Queue")
    statements = _statements_of(fanned, target["RoleArn"]["Fn::GetAtt"][0])
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        (["states:StartExecution"], ["${" + ids["machine"] + "}"]),
        (["sqs:SendMessage"], ["${" + queue_id + ".Arn}"]),
    ]


def test_the_function_knows_the_run_bucket(fanned: Synthesized, ids: dict[str, str]) -> None:
    variables = fanned.only("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert variables[ENV_RUN_BUCKET] == {"Ref": ids["bucket"]}


def _role(fanned: Synthesized, prefix: str) -> str:
    (role_id,) = [k for k in fanned.resources("AWS::IAM::Role") if k.startswith(prefix)]
    return role_id


def _statements_of(fanned: Synthesized, role_id: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role."""
    attached = {
        logical_id
        for logical_id, policy in fanned.resources("AWS::IAM::Policy").items()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    }
    assert attached, f"no policy on {role_id}"
    return [statement for policy, statement in policy_statements(fanned) if policy in attached]


def test_the_function_reads_and_writes_only_the_run_prefixes(
    fanned: Synthesized, ids: dict[str, str]
) -> None:
    statements = _statements_of(fanned, _role(fanned, "JanitorRole"))
    bucket = "${" + ids["bucket"] + ".Arn}"
    s3 = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    assert sorted((s["Sid"], tuple(s["Action"]), tuple(s["Resource"])) for s in s3) == [
        ("FindRunArtifacts", ("s3:ListBucket",), (bucket,)),
        ("KeepRunArtifacts", ("s3:GetObject", "s3:PutObject"), (f"{bucket}/runs/*", f"{bucket}/state/*")),
    ]
    (guard,) = [s for s in statements if "states:ListExecutions" in s["Action"]]
    assert (guard["Action"], guard["Resource"]) == (["states:ListExecutions"], ["${" + ids["machine"] + "}"])


def test_the_state_machine_invokes_only_the_function_and_touches_only_runs(
    fanned: Synthesized, ids: dict[str, str]
) -> None:
    statements = _statements_of(fanned, _role(fanned, "FanOutStateMachineRole"))
    function, bucket = "${" + ids["function"] + ".Arn}", "${" + ids["bucket"] + ".Arn}"
    by_service: dict[str, set[str]] = {}
    for statement in statements:
        for action in statement["Action"]:
            by_service.setdefault(action.split(":")[0], set()).update(statement["Resource"])
    assert by_service["lambda"] == {function, f"{function}:*"}
    assert by_service["s3"] == {f"{bucket}/runs/*"}
    assert by_service["states"] <= {
        "${" + ids["machine"] + "}",
        *(r for s in statements for r in s["Resource"] if ":execution:" in r),
    }
    assert set(by_service) == {"lambda", "s3", "states", "logs", "xray"}
    for statement in statements:
        if "*" in statement["Resource"]:
            assert {a.split(":")[0] for a in statement["Action"]} <= {"logs", "xray"}, statement


WRITES = re.compile(r"^(s3:(Put|Delete|Abort)|ecr:(BatchDelete|Put)|states:(Start|Stop|Redrive))")


def test_nothing_writes_on_a_wildcard(fanned: Synthesized) -> None:
    for policy, statement in policy_statements(fanned):
        if statement["Effect"] != "Allow":
            continue
        writes = [a for a in statement["Action"] if WRITES.match(a) or a in ("s3:*", "ecr:*", "*")]
        if writes:
            for resource in statement["Resource"]:
                assert resource != "*", (policy, writes)
                assert not re.fullmatch(r"\$\{[^}]+\.Arn\}/\*", resource), (policy, writes, "whole bucket")
                assert not resource.startswith("arn:${AWS::Partition}:s3:::*"), (policy, writes)


def test_the_run_bucket_is_private_encrypted_tls_only_and_forgets_runs(
    fanned: Synthesized, ids: dict[str, str]
) -> None:
    resource = fanned.resources("AWS::S3::Bucket")[ids["bucket"]]
    assert resource["DeletionPolicy"] == "Retain"  # no auto-delete helper function
    bucket = resource["Properties"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "runs/"
    assert rule["ExpirationInDays"] == RUN_RETENTION.to_days() == 14
    assert rule["Status"] == "Enabled"
    policy = fanned.only("AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_no_cdk_helper_functions(fanned: Synthesized) -> None:
    assert len(fanned.resources("AWS::Lambda::Function")) == 1  # no auto-delete, no log retention helper
    assert "Custom::" not in json.dumps([r["Type"] for r in fanned.json["Resources"].values()])


def test_alarm_on_failed_runs(fanned: Synthesized, ids: dict[str, str]) -> None:
    alarms = fanned.resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 11
    (alarm,) = [
        a["Properties"] for a in alarms.values() if a["Properties"]["AlarmName"].endswith("-FanOutRunFailed")
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": ids["machine"]}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == alarm["OKActions"]
    assert "WorkersFailed" in alarm["AlarmDescription"]


def test_outputs_name_the_state_machine_and_the_bucket(fanned: Synthesized, ids: dict[str, str]) -> None:
    outputs = fanned.json["Outputs"]
    assert outputs["StateMachineArn"]["Value"] == {"Ref": ids["machine"]}
    assert outputs["RunBucketName"]["Value"] == {"Ref": ids["bucket"]}
    assert placeholder(outputs["StateMachineArn"]["Value"]) == "${" + ids["machine"] + "}"


def test_dashboard_and_alarms_watch_the_janitor_metrics_they_watch_without_fan_out(
    default: Synthesized, fanned: Synthesized
) -> None:
    """The summary publishes the single run's metrics (tests/integration/test_fanout.py), so the
    dashboard and the alarms need no change: same namespace, names and dimensions."""

    def watched(stack: Synthesized) -> set[Any]:
        refs = {ref for _, ref in dashboard_metrics(dashboard_body(stack))} | {
            ref for _, ref in alarm_metrics(stack.json)
        }
        return {ref for ref in refs if ref.namespace == METRICS_NAMESPACE}

    assert watched(fanned) == watched(default)
    assert watched(default)
