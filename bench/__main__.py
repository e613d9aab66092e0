"""`make bench`: the janitor against a careful sequential cleaner and a plain thread pool, on a local ECR
with a fixed latency.

    python -m bench [--scenarios nightly,side-by-side] [--repositories 200] [--images 100]
                    [--latency-ms 50] [--repeat 1] [--pool-workers 16] [--sweep-workers 4,8,32]
                    [--baseline OTHER/lambda] [--memory-sizes 100,400,1600]

Every cleaner runs in its own process against the same strict local ECR (pages, batches and answers as
the real one), seeded identically before each run. Per scenario (bench/scenario.py): ECR calls per
operation against the floor; wall time, speed-up, the process's CPU seconds and CPU per ECR call, peak RSS
of each cleaner; a CPU profile of the janitor (the top functions by cumulative CPU, each thread timed by
its own CPU clock). Then the janitor's peak memory as the registry grows, and a projection to 10,000
repositories from the measured CPU per call at the function's memory size. `--sweep-workers` also
measures the janitor at other `execution.workers` values, `--baseline` another version's janitor; the
timed runs alternate and `--repeat` keeps the median of each. The results go to .bench/results.json.
Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from bench import profiling
from bench.scenario import NIGHTLY, SCENARIOS, Registry
from devtools.kube_api import KubeApiFake, workload
from devtools.local_ecr import LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor.adapters.workloads import COVERAGE_PAGE
from ecr_janitor.config import Execution
from ecr_janitor.outputs import audit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench"
REGION = "us-east-1"
CALLS_TARGET = 1.1
SPEEDUP_TARGET = 6.0
POOL_TARGET = 1.1
"""The janitor's wall time at most this much above the plain 16-thread pool's."""
MEMORY_GROWTH_TARGET = 1.25
"""Peak Python heap at the largest registry of the memory runs over the smallest's: flat."""
LAMBDA_SECONDS = 15 * 60
PROJECTED = Registry("projection", repositories=10_000, images=100, untagged_old=50, expire_after_days=14)
LAMBDA_MB_PER_VCPU = 1769
"""Lambda allocates CPU in proportion to memory: at 1,769 MB a function has the equivalent of one vCPU
(docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). One Python process uses at most one."""
SERVICES = 10
"""ECS services (one revision each) and running Batch jobs seeded, so that every in-use source reads."""
TODAY_CPU_MS_PER_CALL = {"nightly": 7.79, "side-by-side": 8.32}
"""CPU per ECR call of the janitor's process before #15 (main at d6306fe), measured with this bench on the
2-core development machine (2026-12-03, median of 3, the local ECR as it was then): the figure #15 halves.
The machine is shared and the figure moves with its load, so `--baseline PATH` measures the old code in
the same run, alternating with the new, and compares with that instead."""


def _function_memory_mb() -> int:
    """infra/function.py's MEMORY_MB, read without importing the CDK (which would start a node process
    beside the local ECR for the whole bench)."""
    for node in ast.parse((ROOT / "infra" / "function.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MEMORY_MB" for t in node.targets):
            return int(ast.literal_eval(node.value))
    raise SystemExit("MEMORY_MB not found in infra/function.py")


def _measure(cleaner: Cleaner, registry: Registry, *extra: str) -> dict[str, Any]:
    """One run in its own process. Its stderr (the audit lines) goes to a file: every line is still a
    write, as into Lambda's log capture, but a slow reader (this process, busy being the local ECR) can't
    hold the writer up. The deletions the audit lines record are counted."""
    code = cleaner.code or ROOT / "lambda"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(ROOT)])}
    command = [sys.executable, "-m", "bench.measure", cleaner.which, str(cleaner.config)]
    with tempfile.TemporaryFile("w+") as log:
        result = subprocess.run(
            [*command, "--scenario", registry.name, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            check=False,
        )
        log.seek(0)
        if result.returncode != 0:
            raise SystemExit(f"{cleaner.label} failed:\n{log.read()[-3000:]}")
        audited = sum(f'"event":"{audit.DELETION_EVENT}"' in line for line in log)
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return {**measured, "deletionsAudited": audited}


def _left(seeder: Seeder) -> dict[str, set[str]]:
    return {name: seeder.images_left(name) for name in sorted(seeder.backend.repositories)}


def _seeded(ecr: LocalEcr, registry: Registry, now: datetime, cluster: KubeApiFake) -> Seeder:
    ecr.reset()
    seeder = Seeder(ecr, REGION)
    registry.seed(seeder, now)
    cluster.objects.clear()
    cluster.requests.clear()
    if registry.workloads:
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
    if cluster.requests:
        calls["kubernetes"] = dict(Counter(f"GET {r.path}" for r in cluster.requests))
    return calls


@dataclass(frozen=True)
class Cleaner:
    """One cleaner to run: `which` (bench/measure.py), its config, extra arguments, and the janitor's code
    (a lambda/ directory; None: this checkout's)."""

    label: str
    which: str
    config: Path
    extra: tuple[str, ...] = ()
    code: Path | None = None


class Bench:
    """One local ECR and Kubernetes API, and the runs made against them."""

    def __init__(self, ecr: LocalEcr, cluster: KubeApiFake, now: datetime, repeat: int) -> None:
        self.ecr, self.cluster, self.now, self.repeat = ecr, cluster, now, repeat

    def config(self, registry: Registry, workers: int | None = None) -> Path:
        path = OUT / f"config-{registry.name}{f'-{workers}' if workers else ''}.json"
        path.write_text(json.dumps(registry.config(workers=workers)))
        return path

    def once(self, registry: Registry, cleaner: Cleaner, *extra: str) -> dict[str, Any]:
        """One run on a freshly seeded registry, with the ECR calls it made and what it left."""
        seeder = _seeded(self.ecr, registry, self.now, self.cluster)
        measured = _measure(cleaner, registry, *cleaner.extra, *extra)
        calls = self.ecr.strict.operations("ecr")
        return {
            **measured,
            "calls": dict(calls),
            "ecrCalls": sum(calls.values()),
            "cpuMsPerCall": 1000 * measured["cpuSeconds"] / max(1, sum(calls.values())),
            "inUseCalls": _in_use_calls(self.ecr, self.cluster),
            "left": _left(seeder),
        }

    def alternating(self, registry: Registry, cleaners: list[Cleaner]) -> dict[str, dict[str, Any]]:
        """`repeat` rounds of every cleaner, one after the other, so that a shared machine's load weighs on
        all of them alike; per cleaner, the run with the median wall time."""
        runs: dict[str, list[dict[str, Any]]] = {c.label: [] for c in cleaners}
        for _ in range(self.repeat):
            for cleaner in cleaners:
                runs[cleaner.label].append(self.once(registry, cleaner))
        return {
            label: {
                **sorted(done, key=lambda r: r["wallSeconds"])[len(done) // 2],
                "wallSecondsAll": [round(r["wallSeconds"], 2) for r in done],
                "cpuSecondsAll": [round(r["cpuSeconds"], 2) for r in done],
            }
            for label, done in runs.items()
        }


def _scenario(
    bench: Bench, registry: Registry, pool_workers: list[int], sweep: list[int], baseline: Path | None
) -> dict[str, Any]:
    print(
        f"\n== {registry.name}: {registry.repositories} repositories x {registry.images} images "
        f"({registry.expired_per_repository} to expire in each)",
        flush=True,
    )
    config = bench.config(registry)
    janitor = Cleaner(f"janitor ({Execution().workers} workers)", "project", config)
    timed = [
        janitor,
        *([Cleaner("janitor before (--baseline)", "project", config, code=baseline)] if baseline else []),
        *(Cleaner(f"plain pool, {w} threads", "pool", config, ("--workers", str(w))) for w in pool_workers),
        *(Cleaner(f"janitor, workers {w}", "project", bench.config(registry, w)) for w in sweep),
    ]
    runs = bench.alternating(registry, timed)
    sequential = bench.once(registry, Cleaner("sequential", "sequential", config))
    profiled = bench.once(registry, janitor, "--profile", str(OUT / f"profile-{registry.name}.pstats"))
    ours = runs[janitor.label]
    before = runs.get("janitor before (--baseline)", {}).get("cpuMsPerCall") or TODAY_CPU_MS_PER_CALL.get(
        registry.name
    )
    cleaners = [(c.label, runs[c.label]) for c in timed[:1]] + [("sequential", sequential)]
    cleaners += [(c.label, runs[c.label]) for c in timed[1:]]

    floor = registry.floor()
    calls = ours["calls"]
    extra_ops = sorted(set(calls) - set(floor))
    ratio = ours["ecrCalls"] / sum(floor.values())
    base = sequential["wallSeconds"]
    same = all(run["left"] == sequential["left"] and not run["failures"] for _label, run in cleaners)
    audited = all(
        run["deletionsAudited"] == run["imagesExpired"]
        for c in timed
        if c.which == "project"
        for run in [runs[c.label]]
    )
    pool = runs.get("plain pool, 16 threads")
    images = registry.repositories * registry.images
    coverage_pages = ours["inUseCalls"].get("inspector2", {}).get("POST /coverage/list", 0)
    coverage_bound = max(1, math.ceil(images / COVERAGE_PAGE)) if registry.workloads else 0
    heads = f"{'cleaner':<30}{'wall s':>8}{'speed-up':>10}{'CPU s':>8}{'run CPU s':>11}{'CPU ms/call':>13}"
    lines = [
        f"{'ECR operation':<22}{'floor':>8}{'janitor':>9}{'sequential':>12}",
        *(f"{op:<22}{floor[op]:>8}{calls.get(op, 0):>9}{sequential['calls'].get(op, 0):>12}" for op in floor),
        *(f"{op:<22}{'-':>8}{calls[op]:>9}{sequential['calls'].get(op, 0):>12}" for op in extra_ops),
        f"{'total':<22}{sum(floor.values()):>8}{ours['ecrCalls']:>9}{sequential['ecrCalls']:>12}",
        f"calls / floor: {ratio:.3f} (target <= {CALLS_TARGET})",
        "",
        heads + f"{'calls':>7}{'peak RSS':>10}",
        *(
            f"{label:<30}{run['wallSeconds']:>8.2f}{base / run['wallSeconds']:>9.1f}x"
            f"{run['cpuSeconds']:>8.2f}"
            f"{run['runCpuSeconds']:>11.2f}{run['cpuMsPerCall']:>13.2f}{run['ecrCalls']:>7}"
            f"{run['maxRssKiB'] / 1024:>7.0f} MiB"
            for label, run in cleaners
        ),
        f"(median of {bench.repeat} alternating runs; CPU s: the whole process, interpreter and imports "
        "included, as in a cold Lambda; run CPU s: without them; CPU ms/call: CPU s over the ECR calls)",
        f"janitor CPU per ECR call: {ours['cpuMsPerCall']:.2f} ms"
        + (
            f", before #15 {before:.2f} ms ({'measured above' if baseline else 'recorded'}): "
            f"{ours['cpuMsPerCall'] / before:.0%} of it (target <= 50%)"
            if before
            else ""
        ),
        f"same registry left by every cleaner: {'yes' if same else 'NO'}"
        f" ({ours['imagesExpired']} images expired by the janitor, "
        f"{ours['deletionsAudited']} deletion audit lines)",
    ]
    if ours["inUseCalls"]:
        lines += [
            "in-use sources read once per run (not ECR; not in the floor):",
            *(
                f"  {service:<11}{sum(ops.values()):>5} calls: "
                + ", ".join(f"{op} {count}" for op, count in sorted(ops.items()))
                for service, ops in ours["inUseCalls"].items()
            ),
        ]
    if registry.workloads:
        lines.append(
            f"  Inspector coverage pages: {coverage_pages} for {images} images "
            f"(bound: one per {COVERAGE_PAGE} images = {coverage_bound})"
        )
    lines += [
        f"janitor CPU profile ({profiled['profile']['profiledCpuSeconds']:.2f} s profiled, "
        f"{profiled['wallSeconds']:.1f} s wall under the profiler):",
        *profiling.lines(profiled["profile"]),
    ]
    print("\n".join(lines), flush=True)
    missed = [
        text
        for failed, text in [
            (ratio > CALLS_TARGET, f"{registry.name}: calls above {CALLS_TARGET}x the floor"),
            (
                coverage_pages > coverage_bound,
                f"{registry.name}: more coverage pages than one per {COVERAGE_PAGE} images",
            ),
            (
                base / ours["wallSeconds"] < SPEEDUP_TARGET,
                f"{registry.name}: less than {SPEEDUP_TARGET:.0f}x faster than sequential",
            ),
            (
                pool is not None and ours["wallSeconds"] > POOL_TARGET * pool["wallSeconds"],
                f"{registry.name}: slower than the plain 16-thread pool by more than 10% "
                f"({ours['wallSeconds']:.2f} s against {pool['wallSeconds'] if pool else 0:.2f} s)",
            ),
            (
                before is not None and ours["cpuMsPerCall"] > before / 2,
                f"{registry.name}: CPU per call not halved ({ours['cpuMsPerCall']:.2f} ms against "
                f"{before or 0:.2f} ms before)",
            ),
            (not same, f"{registry.name}: the cleaners left different registries"),
            (not audited, f"{registry.name}: a deletion without its audit line"),
        ]
        if failed
    ]

    def result(run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if k != "left"} | {"speedup": base / run["wallSeconds"]}

    return {
        "registry": {"repositories": registry.repositories, "images": registry.images},
        "floor": floor,
        "cleaners": {label: result(run) for label, run in cleaners},
        "janitor": result(ours),
        "janitorProfile": profiled["profile"],
        "callsOverFloor": ratio,
        "speedup": base / ours["wallSeconds"],
        "cpuMsPerCallBefore": before,
        "sameResult": same,
        "missed": missed,
    }


def _memory(bench: Bench, sizes: list[int], images: int) -> tuple[list[dict[str, Any]], list[str]]:
    bench.ecr.strict.latency_seconds = 0.0
    memory = []
    for size in sizes:
        registry = NIGHTLY.sized(size, images)
        measured = bench.once(
            registry, Cleaner("janitor", "project", bench.config(registry)), "--trace-memory"
        )
        memory.append(
            {"repositories": size, "images": images, **{k: v for k, v in measured.items() if k != "left"}}
        )
    print(
        "\n".join(
            [
                "\npeak memory of the janitor (Lambda path: totals only), latency 0, tracemalloc on:",
                *(
                    f"  {m['repositories']:>6} repositories x {m['images']} images: "
                    f"{m['peakPythonBytes'] / 2**20:6.1f} MiB Python heap peak, "
                    f"{m['maxRssKiB'] / 1024:6.1f} MiB RSS"
                    for m in memory
                ),
            ]
        )
    )
    growth = memory[-1]["peakPythonBytes"] / memory[0]["peakPythonBytes"] if len(memory) > 1 else 1.0
    missed = (
        [f"peak heap grew {growth:.2f}x from the smallest registry"] if growth > MEMORY_GROWTH_TARGET else []
    )
    return memory, missed


def _projection(cpu_ms_per_call: float) -> tuple[dict[str, Any], list[str]]:
    """10,000 repositories x 100 images in one Lambda run: its calls at the CPU each costs, on the vCPU
    share the function's memory size buys, or at the rate limit, whichever is slower."""
    calls = sum(PROJECTED.floor().values())
    memory_mb = _function_memory_mb()
    vcpu = min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)
    limit = Execution().max_requests_per_second
    cpu_seconds = calls * cpu_ms_per_call / 1000 / vcpu
    seconds = max(cpu_seconds, calls / limit)
    print(
        f"\nprojection, {PROJECTED.repositories:,} repositories x {PROJECTED.images} images: "
        f"{calls:,} ECR calls x {cpu_ms_per_call:.2f} ms CPU (measured, nightly) on {vcpu:.2f} vCPU "
        f"({memory_mb} MB / "
        f"{LAMBDA_MB_PER_VCPU} MB per vCPU) = {cpu_seconds / 60:.1f} min; the rate limit ({limit}/s) allows "
        f"{calls / limit / 60:.1f} min: {seconds / 60:.1f} min of the {LAMBDA_SECONDS // 60}-minute Lambda"
    )
    projection = {
        "calls": calls,
        "cpuMsPerCall": cpu_ms_per_call,
        "memoryMb": memory_mb,
        "vcpu": vcpu,
        "cpuBoundSeconds": cpu_seconds,
        "rateLimitSeconds": calls / limit,
        "seconds": seconds,
    }
    return projection, ["projection not well inside 15 minutes"] if seconds > LAMBDA_SECONDS / 2 else []


def _numbers(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--repositories", type=int, help="size the nightly scenario (default 200)")
    parser.add_argument(
        "--images", type=int, help="images per repository of the nightly scenario (default 100)"
    )
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per cleaner; the median is kept")
    parser.add_argument("--pool-workers", default="16", help="plain thread pools to compare with")
    parser.add_argument("--sweep-workers", default="", help="also run the janitor with these workers")
    parser.add_argument(
        "--baseline", type=Path, help="another version's lambda/ directory: its janitor is measured too"
    )
    parser.add_argument("--memory-sizes", default="100,400,1600")
    parser.add_argument("--memory-images", type=int, default=20)
    args = parser.parse_args()

    OUT.mkdir(exist_ok=True)
    now = datetime.now(UTC)
    load = os.getloadavg()
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
    bench = Bench(ecr, cluster, now, args.repeat)
    scenarios: dict[str, Any] = {}
    try:
        print(
            f"Local ECR, {args.latency_ms:.0f} ms a request; load average {load[0]:.2f} "
            f"(the machine may be shared: CPU seconds grow with its load)",
            flush=True,
        )
        for name in args.scenarios.split(","):
            registry = SCENARIOS[name]
            if registry is NIGHTLY:
                registry = NIGHTLY.sized(args.repositories, args.images)
            pools, sweep = _numbers(args.pool_workers), _numbers(args.sweep_workers)
            scenarios[name] = _scenario(bench, registry, pools, sweep, args.baseline)
        memory, memory_missed = _memory(bench, _numbers(args.memory_sizes), args.memory_images)
    finally:
        cluster.stop()
        ecr.stop()

    missed = [text for s in scenarios.values() for text in s["missed"]] + memory_missed
    projection = None
    if "nightly" in scenarios:
        projection, projection_missed = _projection(scenarios["nightly"]["janitor"]["cpuMsPerCall"])
        missed += projection_missed
    results = {
        "latencyMs": args.latency_ms,
        "repeat": args.repeat,
        "loadAverage": {"before": load, "after": os.getloadavg()},
        "scenarios": scenarios,
        "memory": memory,
        "projection": projection,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print("\nTargets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
