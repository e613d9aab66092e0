"""Retain mode archives, and `restore` undoes it: the CLI against the strict local ECR, which models the
archive class as ECR documents it and refuses whatever ECR might refuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from devtools.local_ecr import Fault, LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from tests.factories import archive_rule, rule, transition
from tests.integration.test_cli import invoke

REGION = "us-east-1"
NOW = datetime.now(UTC)
ARCHIVE_OLD_RELEASES = transition(rule(1, "tagged", "sinceImagePushed", 60, patterns=["v*"]))
EXPIRE_UNTAGGED = rule(2, "untagged", "sinceImagePushed", 14)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def write_config(tmp_path: Path, *documents: dict[str, Any], **extra: Any) -> Path:
    target = {"repositories": ["*"], "mode": "retain", "policy": {"rules": list(documents)}}
    doc = {"dryRun": False, "targets": [{**target, **extra.pop("target", {})}], **extra}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def audit(err: str, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def statuses(repository: str) -> dict[str, str]:
    details = boto3.client("ecr").describe_images(repositoryName=repository, filter={"imageStatus": "ANY"})
    return {d["imageDigest"]: d["imageStatus"] for d in details["imageDetails"]}


class Releases:
    """web: a signed multi-arch release v1.0 and a release v1.1, both old; v1.2 new; old CI leftovers."""

    def __init__(self, seeder: Seeder) -> None:
        seeder.repository("web")
        self.index, self.children = seeder.multi_arch("web", pushed_at=days_ago(200), tags=["v1.0"])
        self.signature = seeder.cosign_signature("web", self.index, pushed_at=days_ago(200))
        self.v11 = seeder.image("web", pushed_at=days_ago(100), tags=["v1.1"])
        self.v12 = seeder.image("web", pushed_at=days_ago(1), tags=["v1.2"])
        self.leftovers = [seeder.image("web", pushed_at=days_ago(30)) for _ in range(2)]

    @property
    def archived(self) -> set[str]:
        return {self.index, *self.children, self.signature, self.v11}


def test_a_night_archives_old_releases_with_their_platform_images_and_signatures(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    web = Releases(seeder)
    config = write_config(tmp_path, ARCHIVE_OLD_RELEASES, EXPIRE_UNTAGGED)
    code, out, err = invoke(capsys, "run", "--config", str(config), "--json")
    assert code == 0, err
    report = json.loads(out)
    (repo,) = report["repositories"]
    assert {i["digest"] for i in repo["archived"] if i["archived"]} == web.archived
    assert {i["digest"] for i in repo["expired"] if i["deleted"]} == set(web.leftovers)
    assert report["totals"]["imagesArchived"] == 5
    assert report["archiveCosts"]["prices"]["minimumArchiveDays"] == 90
    assert statuses("web") == {**dict.fromkeys(web.archived, "ARCHIVED"), web.v12: "ACTIVE"}
    lines = audit(err, "archive")
    assert {line["digest"] for line in lines} == web.archived
    assert {line["run_id"] for line in lines} == {report["runId"]}
    assert {"repository", "digest", "tags", "rule", "reason", "size_bytes"} <= lines[0].keys()
    # The index went first (an active index never lists an archived child), one call per image.
    order = [
        c.body["imageId"]["imageDigest"]
        for c in local_ecr.strict.calls
        if c.operation == "UpdateImageStorageClass"
    ]
    assert order[0] in (web.index, web.v11)
    assert order.index(web.index) < min(order.index(c) for c in (*web.children, web.signature))
    assert local_ecr.strict.referenced_child_archive_requests == 0


def test_plan_archives_nothing_and_shows_the_cost_model(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    Releases(seeder)
    code, out, _ = invoke(capsys, "plan", "--config", str(write_config(tmp_path, ARCHIVE_OLD_RELEASES)))
    assert code == 0
    assert "archive: 2 by rule 1, 3 with an archived index or subject" in out
    assert "Archive storage class (cost model, USD, upper bounds):" in out
    assert "would move 5 images to the archive" in out
    assert "each is billed at least 90 days in the archive" in out
    assert local_ecr.strict.count("UpdateImageStorageClass") == 0


def test_in_use_images_and_an_unreadable_in_use_source_stop_archiving(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    web = Releases(seeder)
    workloads = Workloads()
    workloads.lambda_function("renderer", image_uri("web", digest=web.v11))
    config = str(write_config(tmp_path, ARCHIVE_OLD_RELEASES))
    local_ecr.strict.faults.append(Fault("*", "AccessDeniedException", "no", times=None, service="batch"))
    code, out, _ = invoke(capsys, "run", "--config", config, "--json")
    assert code == 1
    assert json.loads(out)["repositories"][0]["status"] == "blocked"
    assert local_ecr.strict.count("UpdateImageStorageClass") == 0
    local_ecr.strict.faults.clear()
    code, out, _ = invoke(capsys, "run", "--config", config, "--json")
    assert code == 0
    kept = {i["digest"]: i for i in json.loads(out)["repositories"][0]["kept"]}
    assert kept[web.v11]["reason"] == "in-use"
    assert statuses("web")[web.v11] == "ACTIVE"
    assert statuses("web")[web.index] == "ARCHIVED"  # the control: not in use, archived


def test_a_refused_index_is_reported_and_its_children_are_not_asked_for(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    web = Releases(seeder)
    local_ecr.strict.refused_storage_updates[web.index] = (
        "ImageStorageClassUpdateNotSupportedException",
        "no",
    )
    code, out, err = invoke(
        capsys, "run", "--config", str(write_config(tmp_path, ARCHIVE_OLD_RELEASES)), "--json"
    )
    assert code == 1
    (repo,) = json.loads(out)["repositories"]
    assert repo["status"] == "partial"
    codes = {f["digest"]: f["code"] for f in repo["archiveFailures"]}
    assert codes == {
        web.index: "ImageStorageClassUpdateNotSupportedException",
        **dict.fromkeys([*web.children, web.signature], "NotAttempted"),
    }
    assert statuses("web")[web.v11] == "ARCHIVED"  # the rest goes on
    assert {s for d, s in statuses("web").items() if d in (web.index, *web.children)} == {"ACTIVE"}
    assert len(audit(err, "archive_failure")) == 4


def test_a_night_stopped_after_an_index_leaves_its_children_to_no_later_untagged_rule(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Night 1 archives the index, then an error stops the repository's archiving before its platform
    images. Night 2 can't read the archived index's manifest: its ACTIVE children must not look like the
    untagged rule's own."""
    web = Releases(seeder)
    for follower in (*web.children, web.signature):
        local_ecr.strict.refused_storage_updates[follower] = ("AccessDeniedException", "stopped")
    config = str(write_config(tmp_path, ARCHIVE_OLD_RELEASES, EXPIRE_UNTAGGED))
    code, _, _ = invoke(capsys, "run", "--config", config, "--json")
    assert code == 1
    assert statuses("web")[web.index] == "ARCHIVED"
    assert {statuses("web")[child] for child in web.children} == {"ACTIVE"}
    local_ecr.strict.refused_storage_updates.clear()
    code, out, err = invoke(capsys, "run", "--config", config, "--json")
    assert code == 0, err
    (repo,) = json.loads(out)["repositories"]
    kept = {i["digest"]: i["reason"] for i in repo["kept"]}
    assert {kept[child] for child in web.children} == {"may-be-listed-by-archived-index"}
    assert {statuses("web")[child] for child in web.children} == {"ACTIVE"}
    assert repo["imagesExpired"] == 0
    # Control: night 1, with no archived index yet, did expire the untagged leftovers.
    assert not set(web.leftovers) & set(statuses("web"))


def _archive_night(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *documents: dict[str, Any]
) -> tuple[str, str, str]:
    code, out, err = invoke(capsys, "run", "--config", str(write_config(tmp_path, *documents)), "--json")
    assert code == 0, err
    report = tmp_path / "report.json"
    report.write_text(out)
    audit_lines = tmp_path / "audit.jsonl"
    audit_lines.write_text(err)
    return json.loads(out)["runId"], str(report), str(audit_lines)


@pytest.mark.parametrize("source", ["report", "audit"])
def test_restore_run_brings_back_the_night_and_the_next_night_leaves_it_alone(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str], source: str
) -> None:
    web = Releases(seeder)
    run_id, report, audit_lines = _archive_night(tmp_path, capsys, ARCHIVE_OLD_RELEASES)
    local_ecr.strict.calls.clear()
    code, out, err = invoke(
        capsys, "restore", "--run", run_id, "--from", report if source == "report" else audit_lines, "--json"
    )
    assert code == 0, out + err
    result = json.loads(out)
    assert {i["digest"]: i["outcome"] for i in result["images"]} == dict.fromkeys(web.archived, "restored")
    assert result["totals"]["restored"] == 5
    # Followers first: the index is asked for after its platform images and its signature.
    order = [
        c.body["imageId"]["imageDigest"]
        for c in local_ecr.strict.calls
        if c.operation == "UpdateImageStorageClass"
    ]
    assert order.index(web.index) > max(order.index(d) for d in (*web.children, web.signature))
    assert {line["outcome"] for line in audit(err, "restore")} == {"restored"}
    assert set(statuses("web").values()) == {"ACTIVATING", "ACTIVE"}

    # Idempotent: asked again, nothing is asked of ECR.
    local_ecr.strict.calls.clear()
    code, out, _ = invoke(capsys, "restore", "--run", run_id, "--from", report, "--json")
    assert code == 0
    assert {i["outcome"] for i in json.loads(out)["images"]} == {"already-active"}
    assert local_ecr.strict.count("UpdateImageStorageClass") == 0

    # The next night, within the grace: the restored images are left alone.
    local_ecr.strict.finish_restores()
    code, out, _ = invoke(
        capsys, "run", "--config", str(write_config(tmp_path, ARCHIVE_OLD_RELEASES)), "--json"
    )
    assert code == 0
    night = json.loads(out)
    assert night["totals"]["imagesArchivable"] == 0
    assert night["totals"]["imagesRestored"] == 5
    kept = {i["digest"]: i["reason"] for i in night["repositories"][0]["kept"]}
    assert kept[web.index] == kept[web.v11] == "recently-restored"
    assert set(statuses("web").values()) == {"ACTIVE"}

    # The control: without the grace, the same night archives them again.
    no_grace = write_config(tmp_path, ARCHIVE_OLD_RELEASES, protect={"restoreGraceDays": 0})
    code, out, _ = invoke(capsys, "run", "--config", str(no_grace), "--json")
    assert json.loads(out)["totals"]["imagesArchived"] == 5


def test_restore_run_reads_the_functions_log_group(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    web = Releases(seeder)
    run_id, _report, audit_lines = _archive_night(tmp_path, capsys, ARCHIVE_OLD_RELEASES)
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/ecr-janitor")
    logs.create_log_stream(logGroupName="/aws/lambda/ecr-janitor", logStreamName="night")
    messages = ["START RequestId: x", *Path(audit_lines).read_text().splitlines(), "END RequestId: x"]
    stamp = int(NOW.timestamp() * 1000)
    logs.put_log_events(
        logGroupName="/aws/lambda/ecr-janitor",
        logStreamName="night",
        logEvents=[{"timestamp": stamp + n, "message": m} for n, m in enumerate(messages)],
    )
    args = ("restore", "--run", run_id, "--log-group", "/aws/lambda/ecr-janitor", "--json")
    code, out, _ = invoke(capsys, *args)
    assert code == 0
    assert {i["digest"] for i in json.loads(out)["images"]} == web.archived
    code, _, err = invoke(capsys, "restore", "--run", "cli-nope", "--log-group", "/aws/lambda/ecr-janitor")
    assert code == 2
    assert "run cli-nope is not in log group /aws/lambda/ecr-janitor; nothing was restored" in err


def test_restore_one_image_with_what_follows_it_by_digest_or_tag(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    web = Releases(seeder)
    _archive_night(tmp_path, capsys, ARCHIVE_OLD_RELEASES)
    code, out, _ = invoke(capsys, "restore", "--repository", "web", "--tag", "v1.1", "--dry-run", "--json")
    assert (code, json.loads(out)["images"][0]["outcome"]) == (0, "would-restore")
    assert statuses("web")[web.v11] == "ARCHIVED"
    code, out, _ = invoke(capsys, "restore", "--repository", "web", "--digest", web.index, "--json")
    assert code == 0
    result = json.loads(out)
    # The index's manifest can't be read while it is archived: its signature comes along, and the note says
    # to run again for its platform images.
    assert {i["digest"]: i["outcome"] for i in result["images"]} == {
        web.signature: "restored",
        web.index: "restored",
    }
    assert "run the same restore again once it is ACTIVE" in result["notes"][0]
    local_ecr.strict.finish_restores()
    code, out, _ = invoke(capsys, "restore", "--repository", "web", "--digest", web.index, "--json")
    assert code == 0
    outcomes = {i["digest"]: i["outcome"] for i in json.loads(out)["images"]}
    assert outcomes == {
        **dict.fromkeys(web.children, "restored"),
        web.signature: "already-active",
        web.index: "already-active",
    }


def test_restore_reports_not_found_and_refused_with_exit_code_1(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    web = Releases(seeder)
    _archive_night(tmp_path, capsys, ARCHIVE_OLD_RELEASES)
    code, out, _ = invoke(capsys, "restore", "--repository", "web", "--tag", "v9", "--json")
    assert (code, json.loads(out)["images"][0]["outcome"]) == (1, "not-found")
    code, out, _ = invoke(capsys, "restore", "--repository", "gone", "--tag", "v1", "--json")
    assert (code, json.loads(out)["images"][0]["outcome"]) == (1, "not-found")
    local_ecr.strict.refused_storage_updates[web.v11] = ("ServerException", "try later")
    code, out, _ = invoke(capsys, "restore", "--repository", "web", "--tag", "v1.1")
    assert code == 1
    assert "refused" in out
    assert "ServerException: try later" in out
    assert "Totals [FAILED]: 1 refused" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "r1"], "--run needs --from FILE or --log-group NAME"),
        (["--run", "r1", "--from", "x", "--repository", "web"], "--run restores a whole run"),
        (["--repository", "web"], "give --repository with --digest or --tag, or --run RUN_ID"),
        (["--repository", "web", "--tag", "v1", "--from", "x"], "--from and --log-group go with --run"),
        (["--run", "bad id!", "--from", "x"], "'bad id!' is not a run id"),
        (["--run", "r1", "--from", "/nonexistent"], "can't read /nonexistent"),
    ],
)
def test_restore_refuses_unclear_requests_with_exit_code_2(
    local_ecr: LocalEcr, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = invoke(capsys, "restore", *args)
    assert (code, out) == (2, "")
    assert message in err
    assert local_ecr.strict.count() == 0


def test_deleting_from_the_archive_early_needs_the_opt_in_and_is_billed(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("web")
    old = seeder.image("web", pushed_at=days_ago(300), tags=["v0.9"])
    local_ecr.archive(REGION, "web", old, days_ago(40))
    early = archive_rule(1, "any", 30)
    code, _, err = invoke(capsys, "run", "--config", str(write_config(tmp_path, early)))
    assert code == 2
    assert "allowEarlyArchiveDeletion: true" in err
    assert _opted_in_totals(tmp_path, capsys, early)["archivedImagesExpired"] == 1
    assert local_ecr.strict.early_archive_deletions == 1


def _opted_in_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict[str, Any]
) -> dict[str, int]:
    """A run of `document` with the target's allowEarlyArchiveDeletion: its totals."""
    opted_in = write_config(tmp_path, document, target={"allowEarlyArchiveDeletion": True})
    code, out, _ = invoke(capsys, "run", "--config", str(opted_in), "--json")
    assert code == 0
    totals: dict[str, int] = json.loads(out)["totals"]
    return totals


def test_a_follower_archived_less_than_90_days_holds_its_leader_in_the_archive(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("web")
    release = seeder.image("web", pushed_at=days_ago(300), tags=["v0.9"])
    signature = seeder.cosign_signature("web", release, pushed_at=days_ago(100))
    local_ecr.archive(REGION, "web", release, days_ago(200))
    local_ecr.archive(REGION, "web", signature, days_ago(10))
    after_90 = archive_rule(1, "any", 90)
    code, out, _ = invoke(capsys, "run", "--config", str(write_config(tmp_path, after_90)), "--json")
    assert code == 0
    (repo,) = json.loads(out)["repositories"]
    kept = {i["digest"]: i for i in repo["kept"]}
    assert (kept[release]["reason"], kept[release]["vetoedRule"]) == ("follower-archive-minimum", 1)
    assert set(statuses("web")) == {release, signature}
    assert local_ecr.strict.early_archive_deletions == 0
    # Control: the target's opt-in deletes both now (and ECR bills the signature's 90 days).
    assert _opted_in_totals(tmp_path, capsys, after_90)["archivedImagesExpired"] == 2
    assert local_ecr.strict.early_archive_deletions == 1


def test_restore_run_refuses_when_the_credentials_account_cant_be_told(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trail names each image's account; restore asks STS whose credentials it has before anything."""
    Releases(seeder)
    run_id, report, _ = _archive_night(tmp_path, capsys, ARCHIVE_OLD_RELEASES)
    local_ecr.strict.faults.append(Fault("*", "ExpiredToken", "expired", times=None, service="sts"))
    local_ecr.strict.calls.clear()
    code, out, err = invoke(capsys, "restore", "--run", run_id, "--from", report)
    assert (code, out) == (2, "")
    assert "can't tell which account these credentials are in (STS GetCallerIdentity: ExpiredToken" in err
    assert local_ecr.strict.count("UpdateImageStorageClass") == local_ecr.strict.count("DescribeImages") == 0
    # Control: with STS answering, the same restore goes ahead.
    local_ecr.strict.faults.clear()
    assert invoke(capsys, "restore", "--run", run_id, "--from", report)[0] == 0
