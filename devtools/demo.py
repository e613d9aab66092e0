"""`make demo`: the nightly job against a local registry, first as a dry run, then for real.

It starts the strict local ECR, seeds a registry that looks like a real team's (CI builds leaving
hundreds of untagged images, semver releases, a `latest`, preview builds, months-old images, big ML
images, one repository opted out, one nobody's config covers), then runs the CLI exactly as a user
would: `plan`, `run`, and `plan` again to show that nothing is left to do. Then reversible expiry: a night
that archives old releases instead of deleting them, `restore --run` that undoes it, and the next night
leaving the restored images alone.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from devtools.local_ecr import LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor.outputs import audit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".demo"
REGION = "us-east-1"
MB = 1_000_000


def seed_demo_registry(seeder: Seeder, now: datetime) -> dict[str, int]:
    """A deterministic registry and the workloads that use it; returns the images per repository."""
    rng = random.Random(7)
    workloads = Workloads()

    def days_ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def sha() -> str:
        return f"{rng.getrandbits(28):07x}"

    def service(name: str, *, untagged: int, main_builds: int, releases: int, size_mb: int) -> list[str]:
        """CI leftovers, main-branch builds and signed releases; returns the main builds, oldest first."""
        seeder.repository(name, {"team": name.split("/")[0]})
        for _ in range(untagged):
            age = rng.uniform(0, 120)
            seeder.image(name, pushed_at=days_ago(age), size_bytes=rng.randint(size_mb - 40, size_mb) * MB)
        builds = []
        for i in range(main_builds):
            age = main_builds - i + rng.random()
            tags = [f"main-{sha()}"] + (["latest"] if i == main_builds - 1 else [])
            pulled = days_ago(max(age - 1, 0)) if rng.random() < 0.7 else None
            builds.append(
                seeder.image(
                    name, pushed_at=days_ago(age), tags=tags, size_bytes=size_mb * MB, pulled_at=pulled
                )
            )
        for minor in range(releases):
            age = (releases - minor) * 21 + rng.random()
            release = seeder.image(
                name,
                pushed_at=days_ago(age),
                tags=[f"v1.{minor}.0"],
                size_bytes=size_mb * MB,
                pulled_at=days_ago(rng.uniform(0, 10)) if minor >= releases - 3 else days_ago(age - 2),
            )
            seeder.cosign_signature(name, release, pushed_at=days_ago(age))
        return builds

    api_builds = service("payments/api", untagged=260, main_builds=60, releases=24, size_mb=240)
    service("payments/worker", untagged=140, main_builds=40, releases=12, size_mb=180)
    auth_builds = service("identity/auth", untagged=95, main_builds=30, releases=9, size_mb=120)
    # Workloads still running images the rules would expire: an ECS service pinned to an old main
    # build by digest, and a Lambda function on an old identity build.
    cluster = workloads.cluster("prod")
    canary = workloads.task_definition("payments-api-canary", image_uri("payments/api", digest=api_builds[5]))
    workloads.service(cluster, "payments-api-canary", canary)
    workloads.lambda_function("token-rotator", image_uri("identity/auth", digest=auth_builds[2]))

    seeder.repository("web/frontend", {"team": "web"})
    for _ in range(90):
        seeder.image("web/frontend", pushed_at=days_ago(rng.uniform(0, 45)), size_bytes=95 * MB)
    for pr in range(1200, 1280):
        seeder.image(
            "web/frontend", pushed_at=days_ago(rng.uniform(0, 90)), tags=[f"pr-{pr}"], size_bytes=95 * MB
        )
    for month in range(1, 12):  # multi-arch releases: an index and its untagged per-platform images
        seeder.multi_arch(
            "web/frontend", pushed_at=days_ago(330 - month * 30), tags=[f"release-2026.{month:02d}"]
        )

    seeder.repository("ml/model-server", {"team": "ml"})
    for week in range(26):
        pulled = days_ago(rng.uniform(0, 7)) if week >= 22 else days_ago(180 - week * 7)
        seeder.image(
            "ml/model-server",
            pushed_at=days_ago(182 - week * 7),
            tags=[f"model-2026w{week + 1:02d}"],
            size_bytes=rng.randint(3000, 6000) * MB,
            pulled_at=pulled,
        )
    for _ in range(10):
        seeder.image("ml/model-server", pushed_at=days_ago(rng.uniform(0, 20)), size_bytes=4500 * MB)

    seeder.repository("data/etl-legacy", {"team": "data"})
    for month in range(14):
        seeder.image(
            "data/etl-legacy",
            pushed_at=days_ago(520 - month * 30),
            tags=[f"2025.{month % 12 + 1:02d}.{month // 12}"],
            size_bytes=310 * MB,
            pulled_at=days_ago(400 - month * 10),
        )

    seeder.repository("platform/terraform-runner", {"ecr-janitor:skip": "true", "team": "platform"})
    for _ in range(70):
        seeder.image(
            "platform/terraform-runner", pushed_at=days_ago(rng.uniform(0, 300)), size_bytes=400 * MB
        )

    # Sandboxes are in propagate mode: one has no lifecycle policy yet, one a hand-edited one, one the
    # standard one. A batch job still uses an old sandbox image, which ECR's own policy will expire.
    ecr = workloads.client("ecr")
    sandbox_policy = next(t for t in shipped_config()["targets"] if t["mode"] == "propagate")["policy"]
    hand_edited = json.loads(json.dumps(sandbox_policy))
    hand_edited["rules"][1]["selection"]["countNumber"] = 30
    for name, policy in (
        ("sandbox/alice-test", None),
        ("sandbox/bob-spike", hand_edited),
        ("sandbox/carol-poc", sandbox_policy),
    ):
        seeder.repository(name, {"team": "sandbox"})
        digests = [
            seeder.image(name, pushed_at=days_ago(rng.uniform(0, 200)), size_bytes=60 * MB) for _ in range(15)
        ]
        if policy is not None:
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy, indent=2))
        if name == "sandbox/alice-test":
            workloads.batch_job_definition("alice-nightly-report", image_uri(name, digest=digests[0]))

    return {name: len(seeder.images_left(name)) for name in sorted(seeder.backend.repositories)}


# -- reversible expiry: archive, restore, and the next night ---------------------------------------------

ARCHIVE_REPOSITORY = "releases/mobile-api"
ARCHIVE_CONFIG: dict[str, Any] = {
    "dryRun": False,
    "protect": {"tags": ["latest"]},
    "targets": [
        {
            "repositories": ["releases/*"],
            "mode": "retain",
            "policy": {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "releases nobody pulled for 90 days go to the archive",
                        "selection": {
                            "tagStatus": "tagged",
                            "tagPatternList": ["v*"],
                            "countType": "sinceImagePulled",
                            "countUnit": "days",
                            "countNumber": 90,
                        },
                        "action": {"type": "transition", "targetStorageClass": "archive"},
                    },
                    {
                        "rulePriority": 2,
                        "description": "archived a year: deleted",
                        "selection": {
                            "tagStatus": "any",
                            "storageClass": "archive",
                            "countType": "sinceImageTransitioned",
                            "countUnit": "days",
                            "countNumber": 365,
                        },
                        "action": {"type": "expire"},
                    },
                ]
            },
        }
    ],
}


def seed_releases(seeder: Seeder, ecr: LocalEcr, now: datetime) -> None:
    """Signed multi-arch monthly releases: old ones unpulled, the newest pulled daily, one (v2.1.0) still
    run by ECS, and three archived over a year ago."""
    seeder.repository(ARCHIVE_REPOSITORY, {"team": "mobile"})
    for month in range(12):
        age = 360 - month * 30
        index, children = seeder.multi_arch(
            ARCHIVE_REPOSITORY, pushed_at=now - timedelta(days=age), tags=[f"v2.{month}.0"]
        )
        seeder.cosign_signature(ARCHIVE_REPOSITORY, index, pushed_at=now - timedelta(days=age))
        pulled = now - timedelta(days=1 if month >= 9 else age - 5)
        for digest in (index, *children):
            ecr.record_pull(REGION, ARCHIVE_REPOSITORY, digest, pulled)
    for minor in range(3):
        old = seeder.image(ARCHIVE_REPOSITORY, pushed_at=now - timedelta(days=800), tags=[f"v1.{minor}.0"])
        ecr.archive(REGION, ARCHIVE_REPOSITORY, old, now - timedelta(days=400))
    workloads = Workloads()
    cluster = workloads.cluster("mobile")
    legacy = workloads.task_definition("mobile-api-legacy", image_uri(ARCHIVE_REPOSITORY, tag="v2.1.0"))
    workloads.service(cluster, "mobile-api-legacy", legacy)


def archive_demo(ecr: LocalEcr, seeder: Seeder, env: dict[str, str]) -> bool:
    """A night that archives, `restore --run`, and the next night leaving the restored images alone."""
    seed_releases(seeder, ecr, datetime.now(UTC))
    config = OUT / "ecr-janitor-archive.yaml"
    config.write_text(
        "# Reversible expiry: releases go to ECR's archive class first, and are deleted a year later.\n"
        + yaml.safe_dump(ARCHIVE_CONFIG, sort_keys=False)
    )
    _banner(f"4/6  python -m ecr_janitor run --config {config.relative_to(ROOT)}   (a night that archives)")
    audit_file = OUT / "archive-audit.jsonl"
    night = _cli("run", config, env, log=audit_file)
    print(night.stdout)
    run_id = re.search(r"· run (\S+)", night.stdout)
    archived = [line for line in _audit_lines(audit_file) if line.get("event") == audit.ARCHIVE_EVENT]
    found = run_id[1] if run_id else "?"
    print(f"{len(archived)} archive lines in {audit_file.relative_to(ROOT)}, all with run_id {found}")
    if run_id is None:
        return False

    _banner(f"5/6  python -m ecr_janitor restore --run {run_id[1]} --from {audit_file.relative_to(ROOT)}")
    restore = subprocess.run(
        [sys.executable, "-m", "ecr_janitor", "restore", "--run", run_id[1], "--from", str(audit_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=False,
    )
    lines = restore.stdout.splitlines()
    print(
        "\n".join([*lines[:6], f"  … and {len(lines) - 10} more", *lines[-4:]] if len(lines) > 12 else lines)
    )
    ecr.strict.finish_restores()
    print("(ECR restores within about 20 minutes; the local registry finishes them now.)")

    _banner(f"6/6  python -m ecr_janitor plan --config {config.relative_to(ROOT)}   (the next night)")
    after = _cli("plan", config, env, log=OUT / "archive-plan-after.log")
    print(after.stdout)
    next_night = json.loads(_cli("plan", config, env, "--json", log=OUT / "archive-plan-after.log").stdout)
    return (
        night.returncode == 0
        and bool(archived)
        and restore.returncode == 0
        and next_night["totals"]["imagesArchivable"] == 0
        and next_night["totals"]["imagesRestored"] == len(archived)
    )


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def shipped_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "ecr-janitor.yaml").read_text())
    return loaded


def _cli(
    command: str, config: Path, env: dict[str, str], *extra: str, log: Path
) -> subprocess.CompletedProcess[str]:
    with log.open("w") as stderr:
        return subprocess.run(
            [sys.executable, "-m", "ecr_janitor", command, "--config", str(config), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            check=False,
        )


def _banner(text: str) -> None:
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}", flush=True)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    ecr = LocalEcr().start()
    try:
        # This process and the CLI it starts both talk to the local registry, never to a real account.
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": ecr.endpoint,
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        seeder = Seeder(ecr, REGION)
        before = seed_demo_registry(seeder, datetime.now(UTC))
        shipped = shipped_config()
        demo_config = OUT / "ecr-janitor.yaml"
        demo_config.write_text(
            "# The shipped ecr-janitor.yaml with dryRun switched off, so that `run` really deletes.\n"
            + yaml.safe_dump({**shipped, "dryRun": False}, sort_keys=False)
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT / "lambda")}
        print(f"Local ECR at {ecr.endpoint}: {sum(before.values())} images in {len(before)} repositories.")
        print(f"Config: {demo_config.relative_to(ROOT)} (ecr-janitor.yaml with dryRun: false)")

        _banner("1/6  python -m ecr_janitor plan   (a dry run: reads everything, writes nothing)")
        plan = _cli("plan", demo_config, env, log=OUT / "plan.log")
        print(plan.stdout)
        if plan.returncode != 0:
            print(f"plan failed with exit code {plan.returncode}; see {OUT / 'plan.log'}")
            return 1
        deletes_during_plan = ecr.strict.count("BatchDeleteImage")

        _banner("2/6  python -m ecr_janitor run    (what the nightly Lambda does)")
        run = _cli("run", demo_config, env, log=OUT / "audit.jsonl")
        print(run.stdout)

        _banner("3/6  python -m ecr_janitor plan --json   (after the run: is anything left to expire?)")
        again = _cli("plan", demo_config, env, "--json", log=OUT / "plan-after.log")
        (OUT / "plan-after.json").write_text(again.stdout)
        left = json.loads(again.stdout)["totals"]["imagesExpirable"]
        after = {name: len(seeder.images_left(name)) for name in before}
        print(f"{'REPOSITORY':<28}{'BEFORE':>8}{'AFTER':>8}")
        for name in before:
            print(f"{name:<28}{before[name]:>8}{after[name]:>8}")
        audit_lines = _audit_lines(OUT / "audit.jsonl")
        deletions = [line for line in audit_lines if line.get("event") == audit.DELETION_EVENT]
        print("(sandbox/* are in propagate mode: ECR itself expires their images within 24 hours of the")
        print(" policy; the local registry stores lifecycle policies but, like moto, never enforces them.)")
        print(f"\nImages still expirable after the run: {left}")
        print(f"BatchDeleteImage calls during the dry run: {deletes_during_plan}")
        print(
            f"Audit log: {len(deletions)} deletion lines in {(OUT / 'audit.jsonl').relative_to(ROOT)}, e.g."
        )
        if deletions:
            print(
                json.dumps(
                    {
                        k: deletions[0][k]
                        for k in ("repository", "digest", "tags", "pushed_at", "rule", "reason")
                    }
                )
            )
        ok = run.returncode == 0 and left == 0 and deletes_during_plan == 0
        ok = archive_demo(ecr, seeder, env) and ok
        print("\nDemo finished: OK" if ok else "\nDemo finished with problems (see above)")
        return 0 if ok else 1
    finally:
        ecr.stop()


if __name__ == "__main__":
    sys.exit(main())
