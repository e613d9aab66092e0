"""`make bench`: the janitor against a careful sequential cleaner, on a local ECR with a fixed latency.

    python -m bench [--repositories 200] [--images 100] [--latency-ms 50] [--memory-sizes 100,400,1600]

Both cleaners run in their own process against the same strict local ECR (pages, batches and answers as
the real one), seeded identically. Printed: ECR calls per operation against the floor, wall time and
speed-up, peak memory of the janitor as the registry grows, and a projection to 10,000 repositories.
The results also go to .bench/results.json. Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from bench.scenario import Registry, config
from devtools.kube_api import KubeApiFake, workload
from devtools.local_ecr import LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor.config import Execution

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench"
REGION = "us-east-1"
CALLS_TARGET = 1.1
SPEEDUP_TARGET = 5.0
LAMBDA_SECONDS = 15 * 60
PROJECTED = Registry(repositories=10_000, images=100)
SERVICES = 10
"""ECS services (one revision each) and running Batch jobs seeded, so that every in-use source reads."""
COVERAGE_PAGE = 200


def _measure(which: str, config_path: Path, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lambda"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "bench.measure", which, str(config_path), *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{which} failed:\n{result.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def _left(seeder: Seeder) -> dict[str, set[str]]:
    return {name: seeder.images_left(name) for name in sorted(seeder.backend.repositories)}


def _seeded(ecr: LocalEcr, registry: Registry, now: datetime, cluster: KubeApiFake) -> Seeder:
    ecr.reset()
    seeder = Seeder(ecr, REGION)
    registry.seed(seeder, now)
    _in_use_sources(ecr, seeder)
    _eks_cluster(seeder, cluster)
    # moto builds a service's backend on its first request (over a second for ECS): pay that here,
    # not inside the measured run.
    boto3.client("ecs", region_name=REGION).list_clusters()
    boto3.client("lambda", region_name=REGION).list_functions()
    boto3.client("batch", region_name=REGION).describe_job_definitions()
    ecr.strict.calls.clear()
    return seeder


def _in_use_sources(ecr: LocalEcr, seeder: Seeder) -> None:
    """Every in-use source on, as in an account that uses them: Inspector's ECR scanning enabled and
    covering every image (one image per repository running), ECS services with a service revision,
    Batch jobs running. All of them pin tagged images the policy keeps anyway, so both cleaners must
    still leave the same registry."""
    workloads = Workloads(REGION, strict=ecr.strict)
    workloads.inspector("ENABLED")
    pinned: list[tuple[str, str, str]] = []
    for name, repository in sorted(seeder.backend.repositories.items()):
        tagged = [i for i in repository.images if i.image_tags]
        for image in repository.images:
            in_use = int(bool(tagged) and image is tagged[-1])
            workloads.inspector_coverage(name, image.get_image_digest(), in_use=in_use)
        if tagged:
            pinned.append((name, tagged[-1].image_tags[0], tagged[-1].get_image_digest()))
    cluster = workloads.cluster("bench")
    for n, (name, tag, digest) in enumerate(pinned[:SERVICES]):
        uri = image_uri(name, tag=tag, region=REGION)
        workloads.service(cluster, f"svc-{n}", workloads.task_definition(f"svc-{n}", uri))
        workloads.service_revision(cluster, f"svc-{n}", (uri, digest))
        workloads.batch_job("bench-queue", f"job-{n}", "RUNNING", container={"image": uri})


def _eks_cluster(seeder: Seeder, cluster: KubeApiFake) -> None:
    """One EKS cluster (a local Kubernetes API) whose Deployments, scaled to zero, name one tagged image
    of each of SERVICES repositories: images the policy keeps anyway."""
    cluster.objects.clear()
    cluster.requests.clear()
    for n, (name, repository) in enumerate(sorted(seeder.backend.repositories.items())[:SERVICES]):
        tag = next(t for i in repository.images for t in i.image_tags)
        cluster.add("Deployment", workload("Deployment", "bench", f"svc-{n}", [image_uri(name, tag=tag)]))
    Workloads(REGION).eks_cluster(cluster)


def _in_use_calls(ecr: LocalEcr, cluster: KubeApiFake) -> dict[str, dict[str, int]]:
    """The run's calls to the in-use sources, per service and operation (none of them is ECR's)."""
    calls = {
        service: dict(ecr.strict.operations(service))
        for service in ("ecs", "lambda", "batch", "inspector2", "eks")
        if ecr.strict.operations(service)
    }
    calls["kubernetes"] = dict(Counter(f"GET {r.path}" for r in cluster.requests))
    return calls


def _ecr_calls(ecr: LocalEcr) -> Counter[str]:
    return ecr.strict.operations("ecr")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--memory-sizes", default="100,400,1600")
    parser.add_argument("--memory-images", type=int, default=20)
    args = parser.parse_args()

    OUT.mkdir(exist_ok=True)
    config_path = OUT / "config.json"
    config_path.write_text(json.dumps(config()))
    registry = Registry(args.repositories, args.images)
    now = datetime.now(UTC)
    ecr = LocalEcr(latency_seconds=args.latency_ms / 1000).start()
    cluster = KubeApiFake("bench", region=REGION, secret_key="bench").start()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": ecr.endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    try:
        print(
            f"Local ECR, {args.latency_ms:.0f} ms a request: {registry.repositories} repositories x "
            f"{registry.images} images ({registry.expired_per_repository} to expire in each)",
            flush=True,
        )
        seeder = _seeded(ecr, registry, now, cluster)
        project = _measure("project", config_path)
        project_calls, project_left = _ecr_calls(ecr), _left(seeder)
        in_use_calls = _in_use_calls(ecr, cluster)

        seeder = _seeded(ecr, registry, now, cluster)
        baseline = _measure("sequential", config_path)
        baseline_calls, baseline_left = _ecr_calls(ecr), _left(seeder)

        memory = []
        ecr.strict.latency_seconds = 0.0
        for size in [int(s) for s in args.memory_sizes.split(",") if s]:
            _seeded(ecr, Registry(size, args.memory_images), now, cluster)
            measured = _measure("project", config_path, "--trace-memory")
            memory.append({"repositories": size, "images": args.memory_images, **measured})
    finally:
        cluster.stop()
        ecr.stop()

    floor = registry.floor()
    same_result = project_left == baseline_left and not project["failures"]
    total_floor = sum(floor.values())
    total_project = sum(project_calls[op] for op in floor)
    extra = sorted(set(project_calls) - set(floor))
    ratio = total_project / total_floor
    speedup = baseline["wallSeconds"] / project["wallSeconds"]
    throughput = total_project / project["wallSeconds"]
    projected_calls = sum(PROJECTED.floor().values())
    limit = Execution().max_requests_per_second
    projected_seconds = projected_calls / min(throughput, limit)
    images = registry.repositories * registry.images
    coverage_pages = in_use_calls.get("inspector2", {}).get("POST /coverage/list", 0)
    coverage_bound = max(1, math.ceil(images / COVERAGE_PAGE))

    lines = [
        "",
        f"{'ECR operation':<22}{'floor':>8}{'janitor':>9}{'sequential':>12}",
        *(f"{op:<22}{floor[op]:>8}{project_calls[op]:>9}{baseline_calls[op]:>12}" for op in floor),
        *(f"{op:<22}{'-':>8}{project_calls[op]:>9}{baseline_calls[op]:>12}" for op in extra),
        f"{'total':<22}{total_floor:>8}{total_project:>9}{sum(baseline_calls.values()):>12}",
        "",
        f"calls / floor:      {ratio:.3f} (target <= {CALLS_TARGET})",
        f"wall time:          janitor {project['wallSeconds']:.1f} s, "
        f"sequential {baseline['wallSeconds']:.1f} s",
        f"speed-up:           {speedup:.1f}x with the default {Execution().workers} workers "
        f"(target >= {SPEEDUP_TARGET}x)",
        f"same registry left: {'yes' if same_result else 'NO'}"
        f" ({project['imagesExpired']} images expired by each)",
        "",
        "in-use sources read once per run (not ECR; not in the floor):",
        *(
            f"  {service:<11}{sum(ops.values()):>5} calls: "
            + ", ".join(f"{op} {count}" for op, count in sorted(ops.items()))
            for service, ops in in_use_calls.items()
        ),
        f"  Inspector coverage pages: {coverage_pages} for {images} images "
        f"(bound: one per {COVERAGE_PAGE} images = {coverage_bound})",
        "",
        f"janitor process:    {project['cpuSeconds']:.1f} s CPU, peak RSS "
        f"{project['maxRssKiB'] / 1024:.0f} MiB (without tracing)",
        "",
        "peak memory of the janitor (Lambda path: totals only), latency 0, tracemalloc on:",
        *(
            f"  {m['repositories']:>6} repositories x {m['images']} images: "
            f"{m['peakPythonBytes'] / 2**20:6.1f} MiB Python heap peak, {m['maxRssKiB'] / 1024:6.1f} MiB RSS"
            for m in memory
        ),
        "",
        f"projection, {PROJECTED.repositories:,} repositories x {PROJECTED.images} images: "
        f"{projected_calls:,} ECR calls at {min(throughput, limit):.0f} calls/s "
        f"(measured {throughput:.0f}/s, limiter {limit}/s) = {projected_seconds / 60:.1f} min "
        f"of the {LAMBDA_SECONDS // 60}-minute Lambda",
    ]
    print("\n".join(lines))
    results = {
        "registry": {"repositories": registry.repositories, "images": registry.images},
        "latencyMs": args.latency_ms,
        "floor": floor,
        "janitor": {"calls": dict(project_calls), "inUseCalls": in_use_calls, **project},
        "sequential": {"calls": dict(baseline_calls), **baseline},
        "callsOverFloor": ratio,
        "speedup": speedup,
        "sameResult": same_result,
        "memory": memory,
        "projection": {"calls": projected_calls, "seconds": projected_seconds},
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    missed = [
        text
        for failed, text in [
            (ratio > CALLS_TARGET, "calls above 1.1x the floor"),
            (coverage_pages > coverage_bound, "more Inspector coverage pages than one per 200 images"),
            (speedup < SPEEDUP_TARGET, "less than 5x faster than sequential"),
            (not same_result, "the two cleaners left different registries"),
            (projected_seconds > LAMBDA_SECONDS / 2, "projection not well inside 15 minutes"),
        ]
        if failed
    ]
    print("\nTargets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
