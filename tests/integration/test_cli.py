"""The CLI against the strict local ECR: what it reads, what it deletes, what it reports, how it fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.local_ecr import Fault, LocalEcr
from devtools.seed import Seeder
from ecr_janitor.cli import main
from tests.factories import rule

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def write_config(tmp_path: Path, *, dry_run: bool = False, **extra: Any) -> Path:
    doc: dict[str, Any] = {
        "dryRun": dry_run,
        "protect": {"tags": ["release-*"]},
        "targets": [
            {
                "repositories": ["*"],
                "exclude": ["sandbox/*"],
                "mode": "retain",
                "policy": {
                    "rules": [
                        rule(1, "untagged", "sinceImagePushed", 14),
                        rule(2, "tagged", "imageCountMoreThan", 2, patterns=["main-*"]),
                    ]
                },
            }
        ],
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


class Registry:
    """A small registry whose correct outcome is known by hand."""

    def __init__(self, seeder: Seeder) -> None:
        seeder.repository("team/api")
        self.old_untagged = [seeder.image("team/api", pushed_at=days_ago(30 + n)) for n in range(3)]
        self.young_untagged = seeder.image("team/api", pushed_at=days_ago(2))
        self.main = [
            seeder.image("team/api", pushed_at=days_ago(n + 1), tags=[f"main-{n}"]) for n in range(5)
        ]
        self.release = seeder.image("team/api", pushed_at=days_ago(90), tags=["main-old", "release-1.0"])
        seeder.repository("team/skipped", {"ecr-janitor:skip": "true"})
        self.skipped = seeder.image("team/skipped", pushed_at=days_ago(300))
        seeder.repository("sandbox/toy")
        self.sandbox = seeder.image("sandbox/toy", pushed_at=days_ago(300))

    @property
    def expected_expired(self) -> set[str]:
        # rule 1: the three old untagged images; rule 2: main-2, main-3, main-4 (main-0 and main-1 are
        # the two newest); the release image is also beyond the newest two but its tag protects it.
        return {*self.old_untagged, *self.main[2:]}

    @property
    def expected_kept(self) -> set[str]:
        return {self.young_untagged, *self.main[:2], self.release}


def test_plan_explains_every_image_and_writes_nothing(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry(seeder)
    code, out, _ = invoke(capsys, "plan", "--config", str(write_config(tmp_path)), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["dryRun"] is True
    assert report["dryRunReason"] == "plan never deletes"
    (api,) = [r for r in report["repositories"] if r["repository"] == "team/api"]
    assert {i["digest"] for i in api["expired"]} == registry.expected_expired
    assert {i["digest"] for i in api["kept"]} == registry.expected_kept
    assert all(i["deleted"] is False for i in api["expired"])
    release = next(i for i in api["kept"] if i["digest"] == registry.release)
    assert (release["reason"], release["vetoedRule"]) == ("protected-tag", 2)
    assert all(i["detail"] for i in api["expired"] + api["kept"])
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    assert len(seeder.images_left("team/api")) == 10


def test_run_leaves_exactly_what_the_semantics_keep(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry(seeder)
    code, out, err = invoke(capsys, "run", "--config", str(write_config(tmp_path)))
    assert code == 0, out + err
    assert seeder.images_left("team/api") == registry.expected_kept
    assert seeder.images_left("team/skipped") == {registry.skipped}
    assert seeder.images_left("sandbox/toy") == {registry.sandbox}
    assert "deletions applied" in out
    assert re.search(r"· run cli-\d{8}T\d{6}Z-[0-9a-f]{8}\n", out)  # the run id its audit lines carry
    assert "team/skipped" in out
    assert "opted out: tag ecr-janitor:skip=true" in out
    audit = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    deleted = {line["digest"] for line in audit if line.get("event") == "deletion"}
    assert deleted == registry.expected_expired
    first = next(line for line in audit if line.get("event") == "deletion")
    assert first["run_id"] == re.search(r"· run (\S+)", out)[1]  # type: ignore[index]
    assert {"repository", "digest", "tags", "pushed_at", "size_bytes", "rule", "reason"} <= first.keys()
    # The skipped repository is read for its tags only; the uncovered one not at all.
    touched = [c for c in local_ecr.strict.calls if c.operation != "DescribeRepositories"]
    about = [(c.operation, str(c.body.get("repositoryName") or c.body.get("resourceArn"))) for c in touched]
    assert [op for op, name in about if name.endswith("team/skipped")] == ["ListTagsForResource"]
    assert not [op for op, name in about if name.endswith("sandbox/toy")]


def test_run_with_the_config_in_dry_run_deletes_nothing(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    Registry(seeder)
    code, out, _ = invoke(capsys, "run", "--config", str(write_config(tmp_path, dry_run=True)))
    assert code == 0
    assert "DRY RUN, nothing deleted: config dryRun is true" in out
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    assert len(seeder.images_left("team/api")) == 10


def test_an_invalid_config_exits_2_before_any_aws_call(
    tmp_path: Path, local_ecr: LocalEcr, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"dryRun": False, "targets": [{"repositories": ["*"], "mode": "retain"}]}))
    for command in ("validate", "plan", "run"):
        code, out, err = invoke(capsys, command, "--config", str(path))
        assert code == 2
        assert out == ""
        assert "targets[0] (*) > policy: required field is missing" in err
    assert local_ecr.strict.count() == 0


def test_validate_makes_no_aws_call(
    tmp_path: Path, local_ecr: LocalEcr, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = invoke(capsys, "validate", "--config", str(ROOT / "ecr-janitor.yaml"))
    assert code == 0
    assert "valid. dryRun true" in out
    assert local_ecr.strict.count() == 0


def test_validate_says_which_accounts_the_config_reaches_without_asking_aws(
    tmp_path: Path, local_ecr: LocalEcr, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        accounts=["111122223333", "444455556666"],
        protect={"consumerAccounts": {"organization": {"ous": ["ou-ab12-cdef3456"]}}},
        accessRole={"externalId": "ecr-janitor-7f3a"},
    )
    code, out, _ = invoke(capsys, "validate", "--config", str(config))
    assert code == 0
    assert out.rstrip().endswith(
        "; registries of: 111122223333, 444455556666; workloads also read in: every ACTIVE account of the "
        "organization under ou-ab12-cdef3456 (through role ecr-janitor-reader)"
    )
    assert local_ecr.strict.calls == []


def test_partial_delete_failures_are_reported_and_never_counted(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Registry(seeder)
    refused = registry.old_untagged[0]
    local_ecr.strict.refused_deletions[refused] = ("KmsError", "The KMS key is disabled")
    code, out, _ = invoke(capsys, "run", "--config", str(write_config(tmp_path)), "--json")
    assert code == 1
    (api,) = [r for r in json.loads(out)["repositories"] if r["repository"] == "team/api"]
    assert api["status"] == "partial"
    assert api["deleteFailures"] == [
        {"digest": refused, "code": "KmsError", "message": "The KMS key is disabled"}
    ]
    assert api["imagesExpired"] == len(registry.expected_expired) - 1
    refused_entry = next(i for i in api["expired"] if i["digest"] == refused)
    assert refused_entry["deleted"] is False
    assert refused_entry["failure"]["code"] == "KmsError"
    assert refused in seeder.images_left("team/api")


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("DescribeImages", "AccessDeniedException"),
        ("ListTagsForResource", "AccessDeniedException"),
        ("DescribeImages", "RepositoryNotFoundException"),
    ],
)
def test_one_unreadable_repository_fails_alone(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    code: str,
) -> None:
    registry = Registry(seeder)
    seeder.repository("team/broken")
    broken = seeder.image("team/broken", pushed_at=days_ago(100))
    local_ecr.strict.faults.append(Fault(operation, code, "injected", times=None, repository="team/broken"))
    exit_code, out, _ = invoke(capsys, "run", "--config", str(write_config(tmp_path)), "--json")
    assert exit_code == 1
    by_name = {r["repository"]: r for r in json.loads(out)["repositories"]}
    assert by_name["team/broken"]["status"] == "failed"
    assert by_name["team/broken"]["message"].startswith(code)
    assert by_name["team/api"]["status"] == "cleaned"
    assert seeder.images_left("team/api") == registry.expected_kept
    assert seeder.images_left("team/broken") == {broken}


def test_a_region_that_cannot_be_listed_fails_the_run(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    local_ecr.strict.faults.append(Fault("DescribeRepositories", "AccessDeniedException", "no", times=None))
    code, out, _ = invoke(capsys, "plan", "--config", str(write_config(tmp_path)))
    assert code == 1
    assert "us-east-1: AccessDeniedException: listing repositories: no" in out
    assert "Totals [FAILED]" in out


def test_throttling_is_retried_and_the_run_succeeds(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    capsys: pytest.CaptureFixture[str],
    instant_retries: None,
) -> None:
    registry = Registry(seeder)
    for operation in ("DescribeRepositories", "DescribeImages", "BatchDeleteImage"):
        local_ecr.strict.faults.append(Fault(operation, "ThrottlingException", "Rate exceeded", times=3))
    code, _, _ = invoke(capsys, "run", "--config", str(write_config(tmp_path)))
    assert code == 0
    assert seeder.images_left("team/api") == registry.expected_kept
    assert local_ecr.strict.count("BatchDeleteImage") == 3 + 1


def test_throttled_out_repository_fails_without_deleting(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    capsys: pytest.CaptureFixture[str],
    instant_retries: None,
) -> None:
    Registry(seeder)
    local_ecr.strict.faults.append(
        Fault("BatchDeleteImage", "ThrottlingException", "Rate exceeded", times=None)
    )
    code, out, _ = invoke(capsys, "run", "--config", str(write_config(tmp_path)), "--json")
    assert code == 1
    (api,) = [r for r in json.loads(out)["repositories"] if r["repository"] == "team/api"]
    assert api["status"] == "partial"
    assert api["imagesExpired"] == 0
    assert {f["code"] for f in api["deleteFailures"]} == {"ThrottlingException"}
    assert len(seeder.images_left("team/api")) == 10


def test_large_registries_are_read_in_pages_and_deleted_in_batches_of_100(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(1005):
        seeder.repository(f"sandbox/svc-{n:04d}")  # excluded by the config: listed, never read
    seeder.repository("big/app")
    old = [seeder.image("big/app", pushed_at=days_ago(20 + n / 1000)) for n in range(1150)]
    young = [seeder.image("big/app", pushed_at=days_ago(1)) for _ in range(60)]
    code, out, err = invoke(capsys, "run", "--config", str(write_config(tmp_path)), "--json")
    assert code == 0, err
    ops = local_ecr.strict.operations()
    assert ops["DescribeRepositories"] == 2  # 1006 repositories, pages of 1000
    assert ops["BatchDeleteImage"] == 12  # 1150 digests, 100 a call
    describe_images = [c for c in local_ecr.strict.calls if c.operation == "DescribeImages"]
    assert sum(c.body.get("repositoryName") == "big/app" for c in describe_images) == 2  # 1210 images
    assert all(c.body.get("maxResults") == 1000 for c in describe_images)
    assert seeder.images_left("big/app") == set(young)
    totals = json.loads(out)["totals"]
    assert totals["imagesExpired"] == len(old)
    assert totals["repositoriesUnmatched"] == 1005


def test_region_option_and_missing_region(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, _ = invoke(
        capsys, "plan", "--config", str(write_config(tmp_path)), "--region", "eu-west-1", "--json"
    )
    assert code == 0
    assert json.loads(out)["regions"] == ["eu-west-1"]
    assert {c.region for c in local_ecr.strict.calls if c.service == "ecr"} == {"eu-west-1"}
    # Workloads are read where the config walks too (here the process's region, the config naming none):
    # they may pull from the region being cleaned.
    assert {c.region for c in local_ecr.strict.calls if c.service == "ecs"} == {"eu-west-1", "us-east-1"}
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    code, out, err = invoke(capsys, "plan", "--config", str(write_config(tmp_path)))
    assert code == 2
    assert "no region" in err


def test_json_output_is_one_document_on_stdout(tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder) -> None:
    Registry(seeder)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "ecr_janitor", "plan", "--config", str(write_config(tmp_path)), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["totals"]["imagesExpirable"] == 6
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    assert {line["repository"] for line in logged if line.get("event") == "repository"} == {
        "team/api",
        "team/skipped",
    }
