"""Never delete what is still needed: workloads, multi-arch indexes and signatures, against local AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.local_ecr import Fault, LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor.cli import main
from tests.factories import rule

OLD = datetime.now(UTC) - timedelta(days=60)
RECENT = datetime.now(UTC) - timedelta(days=1)


def write_config(
    tmp_path: Path, *, protect: dict[str, Any] | None = None, rules: list[dict[str, Any]] | None = None
) -> Path:
    doc = {
        "dryRun": False,
        "protect": protect or {},
        "targets": [
            {
                "repositories": ["*"],
                "mode": "retain",
                "policy": {"rules": rules or [rule(1, "any", "sinceImagePushed", 14)]},
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, command: str = "run") -> tuple[int, dict[str, Any]]:
    code = main([command, "--config", str(config), "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def withheld(code: int, report: dict[str, Any], left: set[str], images: set[str]) -> dict[str, Any]:
    """A run that deleted nothing because one in-use source failed: exit 1, `left` (what the repository
    still holds) is `images`; the failure."""
    assert code == 1
    assert left == images
    (failure,) = report["inUseSourceFailures"]
    return dict(failure)


def kept_reasons(report: dict[str, Any], repository: str) -> dict[str, tuple[str, str]]:
    (repo,) = [r for r in report["repositories"] if r["repository"] == repository]
    return {i["digest"]: (i["reason"], i["detail"]) for i in repo["kept"]}


@pytest.fixture
def workloads(local_ecr: LocalEcr) -> Workloads:
    return Workloads()


def test_ecs_services_tasks_and_task_definitions_protect_by_tag_and_digest(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/api")
    by_service = seeder.image("svc/api", pushed_at=OLD, tags=["v1"])
    by_definition = seeder.image("svc/api", pushed_at=OLD)
    by_task = seeder.image("svc/api", pushed_at=OLD)
    unused = seeder.image("svc/api", pushed_at=OLD, tags=["v0"])
    cluster = workloads.cluster("prod")
    workloads.service(cluster, "api", workloads.task_definition("api", image_uri("svc/api", tag="v1")))
    workloads.task_definition("cron", f"svc/api@{by_definition}")  # no registry host: still this repository
    # A task still runs a revision that is now INACTIVE and outside the newest-revisions window.
    old_revision = workloads.task_definition("worker", image_uri("svc/api", digest=by_task))
    workloads.task(cluster, old_revision)
    workloads.retire_task_definition(old_revision)

    code, report = run(capsys, write_config(tmp_path, protect={"taskDefinitionRevisions": 1}))

    assert code == 0
    assert seeder.images_left("svc/api") == {by_service, by_definition, by_task}
    reasons = kept_reasons(report, "svc/api")
    assert reasons[by_service] == ("in-use", "in use by ECS service prod/api, ECS task definition api:1")
    assert reasons[by_definition] == ("in-use", "in use by ECS task definition cron:1")
    assert reasons[by_task][0] == "in-use"
    assert reasons[by_task][1].startswith("in use by ECS task prod/")
    assert unused not in reasons
    assert report["totals"]["imagesProtected"] == 3


def test_only_the_newest_task_definition_revisions_count(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/api")
    images = [seeder.image("svc/api", pushed_at=OLD) for _ in range(3)]
    for digest in images:
        workloads.task_definition("api", image_uri("svc/api", digest=digest))
    workloads.task_definition("api-worker", image_uri("svc/api", digest=images[0]))  # another family
    code, _ = run(capsys, write_config(tmp_path, protect={"taskDefinitionRevisions": 2}))
    assert code == 0
    # api:2 and api:3 are the newest two revisions; api:1's image is also api-worker:1's.
    assert seeder.images_left("svc/api") == set(images)
    code, _ = run(capsys, write_config(tmp_path, protect={"taskDefinitionRevisions": 1}))
    assert seeder.images_left("svc/api") == {images[0], images[2]}


def test_lambda_image_functions_protect_by_tag_and_by_digest(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto shares one code record between a function's versions, so which versions count (the newest N,
    # alias targets) is tested with botocore's Stubber in tests/unit/test_in_use_reader.py.
    seeder.repository("svc/fn")
    by_tag, by_digest, unused = (seeder.image("svc/fn", pushed_at=OLD, tags=[f"t{n}"]) for n in range(3))
    workloads.lambda_function("fn-tag", image_uri("svc/fn", tag="t0"))
    workloads.lambda_function("fn-digest", image_uri("svc/fn", digest=by_digest))

    code, report = run(capsys, write_config(tmp_path))

    assert code == 0, report["inUseSourceFailures"]
    assert seeder.images_left("svc/fn") == {by_tag, by_digest}
    reasons = kept_reasons(report, "svc/fn")
    assert reasons[by_tag] == ("in-use", "in use by Lambda fn-tag:$LATEST")
    assert reasons[by_digest] == ("in-use", "in use by Lambda fn-digest:$LATEST")
    assert unused not in seeder.images_left("svc/fn")


def test_batch_and_extra_lists_protect(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/jobs")
    batch, eks, other_account, listed = (
        seeder.image("svc/jobs", pushed_at=OLD, tags=[f"t{n}"]) for n in range(4)
    )
    workloads.batch_job_definition("nightly", image_uri("svc/jobs", tag="t0"))
    ssm = workloads.ssm_list("/ecr-janitor/in-use", image_uri("svc/jobs", digest=eks))
    s3 = workloads.s3_list(
        "lists", "eks.txt", "svc/jobs:t3", "999999999999.dkr.ecr.us-east-1.amazonaws.com/svc/jobs:t2"
    )

    code, report = run(capsys, write_config(tmp_path, protect={"extraImageLists": [ssm, s3]}))

    assert code == 0
    assert seeder.images_left("svc/jobs") == {batch, eks, listed}
    reasons = kept_reasons(report, "svc/jobs")
    assert reasons[batch][1] == "in use by Batch job definition nightly:1"
    assert reasons[eks][1] == "in use by image list ssm:/ecr-janitor/in-use"
    assert reasons[listed][1] == "in use by image list s3://lists/eks.txt"
    assert other_account not in seeder.images_left("svc/jobs")


@pytest.mark.parametrize("service", ["ecs", "lambda", "batch"])
def test_a_source_that_cannot_be_read_withholds_every_deletion_in_the_region(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str], service: str
) -> None:
    seeder.repository("svc/api")
    images = {seeder.image("svc/api", pushed_at=OLD) for _ in range(3)}
    local_ecr.strict.faults.append(
        Fault("*", "AccessDeniedException", "not authorized", times=None, service=service)
    )

    code, report = run(capsys, write_config(tmp_path))

    failure = withheld(code, report, seeder.images_left("svc/api"), images)
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    assert failure["code"] == "AccessDeniedException"
    assert failure["region"] == "us-east-1"
    (repo,) = report["repositories"]
    assert repo["status"] == "blocked"
    assert repo["imagesExpirable"] == 3
    assert "could not be read (AccessDeniedException" in repo["message"]
    assert report["totals"]["inUseSourcesFailed"] == 1


def test_an_unreadable_extra_list_withholds_deletions_everywhere(
    tmp_path: Path, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/api")
    images = {seeder.image("svc/api", pushed_at=OLD)}
    code, report = run(capsys, write_config(tmp_path, protect={"extraImageLists": ["ssm:/does/not/exist"]}))
    assert code == 1
    assert seeder.images_left("svc/api") == images
    assert report["inUseSourceFailures"][0]["region"] == "*"
    assert report["inUseSourceFailures"][0]["code"] == "ParameterNotFound"


def test_in_use_protection_can_be_turned_off(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    workloads: Workloads,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeder.repository("svc/api")
    seeder.image("svc/api", pushed_at=OLD, tags=["v1"])
    workloads.batch_job_definition("nightly", image_uri("svc/api", tag="v1"))
    sources = ("ecs", "lambda", "batch", "inspector2")
    calls_before = {s: local_ecr.strict.count(service=s) for s in sources}
    code, _ = run(capsys, write_config(tmp_path, protect={"inUse": False}))
    assert code == 0
    assert seeder.images_left("svc/api") == set()
    assert {s: local_ecr.strict.count(service=s) for s in sources} == calls_before


def test_indexes_sharing_a_child(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/multi")
    shared = seeder.image("svc/multi", pushed_at=OLD)
    old_arm = seeder.image("svc/multi", pushed_at=OLD)
    new_arm = seeder.image("svc/multi", pushed_at=RECENT)
    old_index = seeder.index("svc/multi", [shared, old_arm], pushed_at=OLD, tags=["v1"])
    new_index = seeder.index("svc/multi", [shared, new_arm], pushed_at=RECENT, tags=["v2"])
    gone_children = [seeder.image("svc/multi", pushed_at=OLD) for _ in range(2)]
    gone_index = seeder.index("svc/multi", gone_children, pushed_at=OLD, tags=["v0"])
    config = write_config(tmp_path, rules=[rule(1, "tagged", "imageCountMoreThan", 1, patterns=["v*"])])

    code, report = run(capsys, config)

    assert code == 0, report
    assert seeder.images_left("svc/multi") == {shared, new_arm, new_index}
    assert {old_index, old_arm, gone_index, *gone_children}.isdisjoint(seeder.images_left("svc/multi"))
    assert local_ecr.strict.referenced_child_requests == 0
    deletes = [c.body["imageIds"] for c in local_ecr.strict.calls if c.operation == "BatchDeleteImage"]
    assert [sorted(i["imageDigest"] for i in ids) for ids in deletes] == [
        sorted([old_index, gone_index]),
        sorted([old_arm, *gone_children]),
    ]
    reasons = kept_reasons(report, "svc/multi")
    assert reasons[shared][0] == "follows-kept"
    assert "(v2)" in reasons[shared][1]


def test_signatures_follow_their_subject(
    tmp_path: Path, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/signed")
    kept = seeder.image("svc/signed", pushed_at=RECENT, tags=["v2"])
    expired = seeder.image("svc/signed", pushed_at=OLD, tags=["v1"])
    kept_sig = seeder.cosign_signature("svc/signed", kept, pushed_at=OLD)
    kept_ref = seeder.referrer("svc/signed", kept, pushed_at=OLD)
    expired_sig = seeder.cosign_signature("svc/signed", expired, pushed_at=OLD)
    expired_att = seeder.cosign_signature("svc/signed", expired, pushed_at=OLD, kind="att")
    config = write_config(tmp_path, rules=[rule(1, "any", "imageCountMoreThan", 1)])

    code, report = run(capsys, config)

    assert code == 0
    assert seeder.images_left("svc/signed") == {kept, kept_sig, kept_ref}
    assert {expired, expired_sig, expired_att}.isdisjoint(seeder.images_left("svc/signed"))
    (repo,) = report["repositories"]
    followers = {i["digest"]: i["reason"] for i in repo["expired"]}
    assert followers == {
        expired: "expired-by-rule",
        expired_sig: "follows-expired",
        expired_att: "follows-expired",
    }


def test_an_unreadable_index_manifest_fails_the_repository_untouched(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/multi")
    child = seeder.image("svc/multi", pushed_at=OLD)
    index = seeder.index("svc/multi", [child], pushed_at=OLD, tags=["v1"])
    loose = seeder.image("svc/multi", pushed_at=OLD)
    local_ecr.strict.unreadable_manifests.add(index)
    code, report = run(capsys, write_config(tmp_path))
    assert code == 1
    assert seeder.images_left("svc/multi") == {child, index, loose}
    (repo,) = report["repositories"]
    assert repo["status"] == "failed"
    assert "image index manifest(s) unreadable (ImageNotFound)" in repo["message"]


def test_a_failed_index_deletion_keeps_its_children(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/multi")
    children = [seeder.image("svc/multi", pushed_at=OLD) for _ in range(2)]
    index = seeder.index("svc/multi", children, pushed_at=OLD, tags=["v1"])
    local_ecr.strict.refused_deletions[index] = ("KmsError", "key disabled")
    code, report = run(capsys, write_config(tmp_path))
    assert code == 1
    assert seeder.images_left("svc/multi") == {index, *children}
    assert local_ecr.strict.referenced_child_requests == 0
    (repo,) = report["repositories"]
    assert sorted(f["code"] for f in repo["deleteFailures"]) == ["KmsError", "NotAttempted", "NotAttempted"]


def test_a_source_unreadable_in_one_region_withholds_deletions_in_every_region(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    # A workload in eu-west-1 may pull from us-east-1: if its region can't be read, neither is safe.
    seeder.repository("svc/api")
    kept = {seeder.image("svc/api", pushed_at=OLD)}
    local_ecr.strict.faults.append(
        Fault("*", "AccessDeniedException", "no", times=None, service="ecs", region="eu-west-1")
    )
    config = write_config(tmp_path)
    doc = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**doc, "regions": ["us-east-1", "eu-west-1"]}))
    code, report = run(capsys, config)
    assert code == 1
    assert seeder.images_left("svc/api") == kept
    (repo,) = report["repositories"]
    assert (repo["region"], repo["status"]) == ("us-east-1", "blocked")
    assert "ECS in eu-west-1 could not be read" in repo["message"]


@pytest.mark.parametrize("used_elsewhere", [True, False])
def test_a_one_region_run_still_reads_what_the_other_configured_regions_run(
    tmp_path: Path,
    seeder: Seeder,
    capsys: pytest.CaptureFixture[str],
    local_ecr: LocalEcr,
    used_elsewhere: bool,
) -> None:
    """`run --region us-east-1` cleans us-east-1 only, but a Lambda in eu-west-1 (a region the config
    walks) that runs one of its images keeps it; with no such function the same image goes."""
    seeder.repository("svc/api")
    pinned = seeder.image("svc/api", pushed_at=OLD, tags=["v1"])
    if used_elsewhere:
        Workloads(region="eu-west-1").lambda_function("eu-api", image_uri("svc/api", tag="v1"))
    config = write_config(tmp_path, protect={"inspector": "off", "eks": "off"})
    document = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**document, "regions": ["us-east-1", "eu-west-1"]}))

    code = main(["run", "--config", str(config), "--region", "us-east-1", "--json"])
    report = json.loads(capsys.readouterr().out)

    assert code == 0
    assert report["regions"] == ["us-east-1"]
    assert (pinned in seeder.images_left("svc/api")) is used_elsewhere
    read_in = {call.region for call in local_ecr.strict.calls if call.service == "lambda"}
    assert read_in == {"us-east-1", "eu-west-1"}  # both regions' functions were read


@pytest.mark.parametrize("listed", [True, False])
def test_a_secure_string_list_is_read_decrypted(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str], listed: bool
) -> None:
    seeder.repository("svc/jobs")
    image = seeder.image("svc/jobs", pushed_at=OLD, tags=["t1"])
    uris = [image_uri("svc/jobs", tag="t1")] if listed else [image_uri("svc/jobs", tag="other")]
    workloads.client("ssm").put_parameter(Name="/in-use/secure", Type="SecureString", Value=",".join(uris))

    code, report = run(capsys, write_config(tmp_path, protect={"extraImageLists": ["ssm:/in-use/secure"]}))

    assert code == 0, report["inUseSourceFailures"]
    assert (image in seeder.images_left("svc/jobs")) is listed


@pytest.mark.parametrize("line", ["Not An Image!", "svc/Jobs:v1", "AQICAHh+kms/ciphertext=="])
def test_a_list_entry_that_cannot_name_an_image_withholds_deletions(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    seeder.repository("svc/jobs")
    images = {seeder.image("svc/jobs", pushed_at=OLD)}
    location = workloads.s3_list("lists", "in-use.txt", "svc/jobs:t1", line)

    code, report = run(capsys, write_config(tmp_path, protect={"extraImageLists": [location]}))

    failure = withheld(code, report, seeder.images_left("svc/jobs"), images)
    assert failure["code"] == "UnreadableImageUri"
    assert line in failure["message"]


def test_a_list_of_valid_entries_lets_the_rest_go(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/jobs")
    unused = seeder.image("svc/jobs", pushed_at=OLD)
    location = workloads.s3_list("lists", "in-use.txt", "svc/jobs:t1", "ghcr.io/someone/else:v1")

    code, _ = run(capsys, write_config(tmp_path, protect={"extraImageLists": [location]}))

    assert code == 0
    assert unused not in seeder.images_left("svc/jobs")
