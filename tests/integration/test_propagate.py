"""Propagate mode against the strict local ECR: statuses, drift, dry runs, opt-outs, idempotence, the impact
preview and failures."""

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
from ecr_janitor.adapters import clients
from ecr_janitor.adapters.ecr import EcrRegistry
from ecr_janitor.cli import main
from ecr_janitor.core.lifecycle import LifecyclePolicy
from ecr_janitor.core.native import evaluate_as_ecr
from tests.factories import rule, transition

NOW = datetime.now(UTC)
POLICY: dict[str, Any] = {
    "rules": [rule(1, "untagged", "sinceImagePushed", 3), rule(2, "any", "imageCountMoreThan", 4)]
}


def write_config(
    tmp_path: Path,
    *,
    dry_run: bool = False,
    on_drift: str | None = None,
    policy: Any = None,
    on_risk: str | None = None,
) -> Path:
    target: dict[str, Any] = {"repositories": ["team/*"], "mode": "propagate", "policy": policy or POLICY}
    if on_drift:
        target["onDrift"] = on_drift
    if on_risk:
        target["onRisk"] = on_risk
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"dryRun": dry_run, "protect": {"tags": ["release-*"]}, "targets": [target]})
    )
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, command: str = "run") -> tuple[int, dict[str, Any]]:
    code = main([command, "--config", str(config), "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["repository"]: r for r in report["repositories"]}


def stored(name: str) -> Any:
    return json.loads(boto3.client("ecr").get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])


def put(name: str, document: Any, *, indent: int | None = None) -> None:
    boto3.client("ecr").put_lifecycle_policy(
        repositoryName=name, lifecyclePolicyText=json.dumps(document, indent=indent)
    )


@pytest.fixture
def registry(seeder: Seeder) -> dict[str, list[str]]:
    """team/new (no policy), team/same (our policy, keys reordered), team/edited (a different policy),
    team/frozen (opted out), other/app (no target), each with eight images."""
    images: dict[str, list[str]] = {}
    for name in ("team/new", "team/same", "team/edited", "team/frozen", "other/app"):
        seeder.repository(name, {"ecr-janitor:skip": "true"} if name == "team/frozen" else None)
        images[name] = [
            seeder.image(name, pushed_at=NOW - timedelta(days=n * 5 + 1), tags=[f"v{n}"] if n % 2 else [])
            for n in range(8)
        ]
    reversed_keys = {"rules": [dict(reversed(list(r.items()))) for r in POLICY["rules"]]}
    put("team/same", reversed_keys, indent=3)
    edited = json.loads(json.dumps(POLICY))
    edited["rules"][1]["selection"]["countNumber"] = 30
    put("team/edited", edited)
    put("team/frozen", edited)
    seeder.ecr.strict.calls.clear()  # what the janitor does is counted from here
    return images


def test_each_status_and_nothing_is_ever_deleted(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    registry: dict[str, list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run(capsys, write_config(tmp_path))
    assert code == 0
    repos = by_name(report)
    assert {name: r["policy"]["status"] for name, r in repos.items() if r["policy"]} == {
        "team/new": "created",
        "team/same": "unchanged",
        "team/edited": "updated",
    }
    assert all(r["status"] == "applied" for name, r in repos.items() if name != "team/frozen")
    assert repos["team/frozen"]["status"] == "skipped"
    assert "other/app" not in repos
    # The opted-out and the uncovered repositories are never asked for their policy.
    asked = {c.body.get("repositoryName") for c in local_ecr.strict.calls if "LifecyclePolicy" in c.operation}
    assert asked.isdisjoint({"team/frozen", "other/app"})
    assert stored("team/new") == POLICY
    assert stored("team/edited") == POLICY
    assert stored("team/frozen")["rules"][1]["selection"]["countNumber"] == 30
    assert repos["team/edited"]["policy"]["differences"] == [
        "rule 2: selection.countNumber: the repository has 30, the config has 4"
    ]
    assert local_ecr.strict.count("PutLifecyclePolicy") == 2
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    for name, images in registry.items():
        assert seeder.images_left(name) == set(images)
    assert report["totals"]["policiesCreated"] == 1
    assert report["totals"]["policiesUpdated"] == 1
    assert report["totals"]["policiesUnchanged"] == 1


def test_on_drift_report_creates_missing_policies_but_leaves_different_ones(
    tmp_path: Path, local_ecr: LocalEcr, registry: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(capsys, write_config(tmp_path, on_drift="report"))
    assert code == 0
    repos = by_name(report)
    assert repos["team/edited"]["policy"]["status"] == "drifted"
    assert repos["team/edited"]["policy"]["written"] is False
    assert repos["team/edited"]["policy"]["differences"]
    assert stored("team/edited")["rules"][1]["selection"]["countNumber"] == 30
    assert stored("team/new") == POLICY
    assert report["totals"]["policyDrift"] == 1
    assert local_ecr.strict.count("PutLifecyclePolicy") == 1


@pytest.mark.parametrize(("command", "dry_run"), [("plan", False), ("run", True)])
def test_plans_and_dry_runs_write_nothing(
    tmp_path: Path,
    local_ecr: LocalEcr,
    registry: dict[str, list[str]],
    capsys: pytest.CaptureFixture[str],
    command: str,
    dry_run: bool,
) -> None:
    code, report = run(capsys, write_config(tmp_path, dry_run=dry_run), command)
    assert code == 0
    assert local_ecr.strict.count("PutLifecyclePolicy") == 0
    repos = by_name(report)
    assert repos["team/new"]["policy"] | {"preview": None} == {
        "status": "created",
        "written": False,
        "onDrift": "overwrite",
        "differences": [],
        "preview": None,
    }
    assert report["totals"]["policiesToCreate"] == 1
    assert report["totals"]["policiesCreated"] == 0
    with pytest.raises(boto3.client("ecr").exceptions.LifecyclePolicyNotFoundException):
        boto3.client("ecr").get_lifecycle_policy(repositoryName="team/new")


def test_a_second_run_writes_nothing_and_still_previews_each_policy_in_place(
    tmp_path: Path, local_ecr: LocalEcr, registry: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert run(capsys, config)[0] == 0
    local_ecr.strict.calls.clear()
    code, report = run(capsys, config)
    assert code == 0
    assert {r["policy"]["status"] for r in report["repositories"] if r["policy"]} == {"unchanged"}
    assert local_ecr.strict.count("PutLifecyclePolicy") == 0
    # The preview costs one image listing per covered repository (of 8 images: one page each).
    assert local_ecr.strict.count("DescribeImages") == 3
    assert all(r["policy"]["preview"] for r in report["repositories"] if r["policy"])


def test_a_policy_in_place_that_now_expires_an_image_in_use_is_reported_every_night(
    tmp_path: Path, local_ecr: LocalEcr, registry: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """team/same has the target's policy already (unchanged): a real run previews it too, reports the image
    ECR will expire under it although a job uses it, and counts it for the PolicyImagesAtRisk alarm. Held
    is for policies about to be written only: there is nothing to hold back here."""
    used = registry["team/same"][6]
    Workloads().batch_job_definition("nightly", image_uri("team/same", digest=used))
    code, report = run(capsys, write_config(tmp_path))
    assert code == 0
    same = by_name(report)["team/same"]
    assert (same["policy"]["status"], same["policy"]["written"]) == ("unchanged", False)
    assert [(i["digest"], i["reason"]) for i in same["policy"]["preview"]["atRisk"]] == [(used, "in-use")]
    assert same["message"].startswith("at risk: ECR will expire or archive 1 image(s) the janitor keeps")
    assert report["totals"]["previewImagesAtRisk"] == 1
    assert report["totals"]["policiesHeld"] == 0
    # Control: nothing uses team/edited's images; its policy is written and nothing is at risk.
    assert by_name(report)["team/edited"]["policy"]["preview"]["atRisk"] == []


def test_the_preview_is_what_ecr_itself_expires_without_protections(
    tmp_path: Path, registry: dict[str, list[str]], workloads_in_use: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(capsys, write_config(tmp_path), "plan")
    assert code == 0
    preview = by_name(report)["team/new"]["policy"]["preview"]
    images = EcrRegistry(clients.client("ecr", "us-east-1"), "us-east-1").images("team/new")
    rules = LifecyclePolicy.model_validate(POLICY).ordered_rules()
    engine = evaluate_as_ecr(images, rules, datetime.now(UTC))
    assert {i["digest"] for i in preview["expired"]} == {d.image.digest for d in engine.expired}
    # Worked out by hand: rule 1 takes the untagged images older than 3 days (#2, #4, #6); rule 2 keeps
    # the 4 newest and can't expire #4 or #6, which rule 1 selected, so it adds #5 and #7.
    new = registry["team/new"]
    assert {i["digest"] for i in preview["expired"]} == {new[2], new[4], new[5], new[6], new[7]}
    assert preview["imagesExpirable"] == len(engine.expired) == 5
    assert preview["bytesExpirable"] == engine.bytes_expired
    assert "without the janitor's protections" in preview["note"]
    # ECR will also expire an image a Batch job still uses: at risk.
    assert {(i["digest"], i["reason"]) for i in preview["atRisk"]} == {(workloads_in_use, "in-use")}


def test_ecr_counts_platform_images_on_their_own_so_those_of_a_kept_index_are_at_risk(
    tmp_path: Path, seeder: Seeder, registry: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Rule 1 (untagged, 3 days) selects the index's untagged platform images in ECR; the janitor keeps
    them with their index, which rule 2 keeps (the 3rd newest). The policy is held."""
    kept_index, children = seeder.multi_arch("team/new", pushed_at=NOW - timedelta(days=10), tags=["v9"])
    code, report = run(capsys, write_config(tmp_path))
    assert code == 0
    new = by_name(report)["team/new"]
    preview = new["policy"]["preview"]
    assert set(children) <= {i["digest"] for i in preview["expired"]}
    assert kept_index not in {i["digest"] for i in preview["expired"]}
    assert {(i["digest"], i["reason"]) for i in preview["atRisk"]} == {(c, "follows-kept") for c in children}
    assert (new["policy"]["status"], new["policy"]["written"]) == ("held", False)
    # Control: team/edited has no index: its policy is written.
    assert by_name(report)["team/edited"]["policy"]["status"] == "updated"


@pytest.fixture
def workloads_in_use(local_ecr: LocalEcr, registry: dict[str, list[str]]) -> str:
    used = registry["team/new"][6]
    Workloads().batch_job_definition("nightly", image_uri("team/new", digest=used))
    return used


def test_archival_policies_ecr_accepts_are_propagated(
    tmp_path: Path, registry: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    archive = rule(1, "any", "sinceImagePulled", 90)
    archive["action"] = {"type": "transition", "targetStorageClass": "archive"}
    policy = {"rules": [archive]}
    code, _ = run(capsys, write_config(tmp_path, policy=policy))
    assert code == 0
    assert stored("team/new") == policy


def test_the_preview_shows_what_ecr_will_archive_and_an_in_use_image_it_archives_is_at_risk(
    tmp_path: Path, registry: dict[str, list[str]], workloads_in_use: str, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = {
        "rules": [
            transition(rule(1, "untagged", "sinceImagePushed", 3)),
            rule(2, "any", "imageCountMoreThan", 4),
        ]
    }
    code, report = run(capsys, write_config(tmp_path, policy=policy), "plan")
    assert code == 0
    preview = by_name(report)["team/new"]["policy"]["preview"]
    new = registry["team/new"]
    # The same images as the expire preview above, but rule 1 now moves #2, #4, #6 to the archive.
    assert {i["digest"] for i in preview["archived"]} == {new[2], new[4], new[6]}
    assert {i["digest"] for i in preview["expired"]} == {new[5], new[7]}
    assert preview["imagesArchivable"] == 3
    previews = [r["policy"]["preview"] for r in report["repositories"] if (r["policy"] or {}).get("preview")]
    assert report["totals"]["previewImagesArchivable"] == sum(p["imagesArchivable"] for p in previews)
    # ECR archives the image a Batch job uses: it can't be pulled any more, so it is at risk too.
    assert {(i["digest"], i["reason"]) for i in preview["atRisk"]} == {(workloads_in_use, "in-use")}


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("GetLifecyclePolicy", "RepositoryNotFoundException"),
        ("PutLifecyclePolicy", "AccessDeniedException"),
        ("PutLifecyclePolicy", "ThrottlingException"),
    ],
)
def test_a_failing_repository_is_reported_and_the_others_go_on(
    tmp_path: Path,
    local_ecr: LocalEcr,
    registry: dict[str, list[str]],
    capsys: pytest.CaptureFixture[str],
    instant_retries: None,
    operation: str,
    code: str,
) -> None:
    local_ecr.strict.faults.append(Fault(operation, code, "injected", times=None, repository="team/edited"))
    exit_code, report = run(capsys, write_config(tmp_path))
    assert exit_code == 1
    repos = by_name(report)
    assert repos["team/edited"]["status"] == "failed"
    assert repos["team/edited"]["message"].startswith(code)
    assert repos["team/new"]["policy"]["status"] == "created"
    local_ecr.strict.faults.clear()
    assert stored("team/new") == POLICY
    assert stored("team/edited")["rules"][1]["selection"]["countNumber"] == 30


def test_throttling_is_retried(
    tmp_path: Path,
    local_ecr: LocalEcr,
    registry: dict[str, list[str]],
    capsys: pytest.CaptureFixture[str],
    instant_retries: None,
) -> None:
    local_ecr.strict.faults.append(Fault("PutLifecyclePolicy", "ThrottlingException", "slow down", times=3))
    code, _ = run(capsys, write_config(tmp_path))
    assert code == 0
    assert stored("team/new") == POLICY
    assert stored("team/edited") == POLICY


def test_the_preview_says_when_its_at_risk_list_may_be_incomplete(
    tmp_path: Path, local_ecr: LocalEcr, registry: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    local_ecr.strict.faults.append(Fault("*", "AccessDeniedException", "no", times=None, service="lambda"))
    code, report = run(capsys, write_config(tmp_path), "plan")
    assert code == 1
    preview = by_name(report)["team/new"]["policy"]["preview"]
    assert "Lambda in us-east-1 could not be read (AccessDeniedException" in preview["atRiskIncomplete"]
    assert by_name(report)["team/same"]["policy"]["preview"]["atRiskIncomplete"]


# -- onRisk: hold (the default) | put ----------------------------------------------------------------


def test_a_policy_that_would_expire_an_image_in_use_is_held_and_nothing_is_written(
    tmp_path: Path,
    local_ecr: LocalEcr,
    registry: dict[str, list[str]],
    workloads_in_use: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run(capsys, write_config(tmp_path))
    assert code == 0  # held is a decision, not a failure; the PoliciesHeld alarm says so
    repos = by_name(report)
    held = repos["team/new"]
    assert held["status"] == "applied"
    assert held["policy"]["status"] == "held"
    assert held["policy"]["written"] is False
    assert held["message"].startswith("held: ECR would expire or archive 1 image(s) the janitor protects")
    assert [(i["digest"], i["reason"]) for i in held["policy"]["preview"]["atRisk"]] == [
        (workloads_in_use, "in-use")
    ]
    with pytest.raises(boto3.client("ecr").exceptions.LifecyclePolicyNotFoundException):
        boto3.client("ecr").get_lifecycle_policy(repositoryName="team/new")
    # Control: a repository whose policy puts nothing at risk is written as before.
    assert repos["team/edited"]["policy"]["status"] == "updated"
    assert stored("team/edited") == POLICY
    assert local_ecr.strict.count("PutLifecyclePolicy") == 1
    assert report["totals"]["policiesHeld"] == 1
    assert report["totals"]["previewImagesAtRisk"] == 1
    assert report["totals"]["policiesCreated"] == 0


def test_a_held_policy_is_evaluated_again_and_written_once_nothing_is_at_risk(
    tmp_path: Path,
    local_ecr: LocalEcr,
    registry: dict[str, list[str]],
    workloads_in_use: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path)
    assert by_name(run(capsys, config)[1])["team/new"]["policy"]["status"] == "held"
    boto3.client("batch").deregister_job_definition(jobDefinition="nightly:1")
    code, report = run(capsys, config)
    assert code == 0
    assert by_name(report)["team/new"]["policy"]["status"] == "created"
    assert stored("team/new") == POLICY


def test_on_risk_put_writes_the_policy_anyway_and_still_lists_the_images_at_risk(
    tmp_path: Path, registry: dict[str, list[str]], workloads_in_use: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(capsys, write_config(tmp_path, on_risk="put"))
    assert code == 0
    policy = by_name(report)["team/new"]["policy"]
    assert (policy["status"], policy["written"]) == ("created", True)
    assert [i["digest"] for i in policy["preview"]["atRisk"]] == [workloads_in_use]
    assert stored("team/new") == POLICY
    assert report["totals"]["policiesHeld"] == 0


def test_a_dry_run_reports_the_hold_it_would_make(
    tmp_path: Path, registry: dict[str, list[str]], workloads_in_use: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(capsys, write_config(tmp_path), "plan")
    assert code == 0
    policy = by_name(report)["team/new"]["policy"]
    assert (policy["status"], policy["written"]) == ("held", False)
    assert report["totals"]["policiesHeld"] == 1
    assert report["totals"]["policiesToCreate"] == 0


@pytest.mark.parametrize(("on_risk", "written"), [(None, False), ("put", True)])
def test_when_images_at_risk_cant_be_known_the_policy_is_held(
    tmp_path: Path,
    local_ecr: LocalEcr,
    registry: dict[str, list[str]],
    capsys: pytest.CaptureFixture[str],
    on_risk: str | None,
    written: bool,
) -> None:
    """An unreadable in-use source could hide an image in use: hold, unless told to put anyway."""
    local_ecr.strict.faults.append(Fault("*", "AccessDeniedException", "no", times=None, service="lambda"))
    code, report = run(capsys, write_config(tmp_path, on_risk=on_risk))
    assert code == 1  # the unreadable source is a failure of its own
    new = by_name(report)["team/new"]
    assert new["policy"]["written"] is written
    assert new["policy"]["status"] == ("created" if written else "held")
    if not written:
        assert new["message"].startswith("held: images at risk can't be known (Lambda in us-east-1")
    assert (local_ecr.strict.count("PutLifecyclePolicy") > 0) is written


def test_the_text_report_shows_the_hold_and_why(
    tmp_path: Path, registry: dict[str, list[str]], workloads_in_use: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--config", str(write_config(tmp_path))]) == 0
    out, _ = capsys.readouterr()
    row = next(line for line in out.splitlines() if "team/new" in line)
    assert "HELD (not written)" in row
    assert "held: ECR would expire or archive 1 image(s) the janitor protects" in out
    assert "1 held" in out
