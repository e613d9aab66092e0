"""What `restore` brings back and in which order, and how it reads a run's archives back (pure parts)."""

from __future__ import annotations

import json
from typing import Any

from ecr_janitor.core.restore import restore_order, with_followers
from ecr_janitor.outputs.trail import ArchivedImage, read_trail
from tests.factories import digest, image, index, referrer, signature

MULTI_ARCH = [
    image("amd64"),
    image("arm64"),
    index("idx", ["amd64", "arm64"], "v1"),
    signature("sig", "idx"),
    referrer("ref", "amd64"),
    image("other", "v2"),
]
NAMES = {digest(n): n for n in ("amd64", "arm64", "idx", "sig", "ref", "other")}


def test_an_image_comes_back_with_everything_that_follows_it() -> None:
    assert {NAMES[d] for d in with_followers(MULTI_ARCH, [digest("idx")])} == {
        "idx",
        "amd64",
        "arm64",
        "sig",
        "ref",
    }
    assert {NAMES[d] for d in with_followers(MULTI_ARCH, [digest("amd64")])} == {"amd64", "ref"}
    assert with_followers(MULTI_ARCH, [digest("other")]) == {digest("other")}


def test_followers_are_restored_before_what_they_follow() -> None:
    everything = [i.digest for i in MULTI_ARCH]
    order = [NAMES[d] for d in restore_order(MULTI_ARCH, everything)]
    position = {name: n for n, name in enumerate(order)}
    assert position["ref"] < position["amd64"] < position["idx"]
    assert position["arm64"] < position["idx"]
    assert position["sig"] < position["idx"]
    assert restore_order(list(reversed(MULTI_ARCH)), reversed(everything)) == restore_order(
        MULTI_ARCH, everything
    )


RUN = "cli-20261202T030000Z-0a1b2c3d"


def _line(event: str, run_id: str = RUN, **fields: Any) -> str:
    return json.dumps({"level": "INFO", "event": event, "run_id": run_id, **fields})


ARCHIVE: dict[str, Any] = {
    "region": "us-east-1",
    "repository": "web",
    "digest": digest("idx"),
    "tags": ["v1"],
}


def test_audit_lines_give_the_runs_archives_once_and_skip_everything_else() -> None:
    text = "\n".join(
        [
            "START RequestId: 0f6b Version: $LATEST",  # Lambda's own lines
            _line("repository", repository="web"),
            f"2026-12-02T03:00:01.000Z\t{_line('archive', **ARCHIVE)}",  # a CloudWatch export prefix
            _line("archive", **ARCHIVE),  # the same line twice (two exports)
            _line("archive", run_id="another-run", **{**ARCHIVE, "digest": digest("other")}),
            _line("archive_failure", **{**ARCHIVE, "digest": digest("amd64")}),
            "{not json",
        ]
    )
    trail = read_trail(text, RUN)
    assert trail.run_found
    assert trail.images == (ArchivedImage("us-east-1", "web", digest("idx"), ("v1",)),)
    assert not read_trail(text, "never-ran").run_found


def test_a_run_that_archived_nothing_is_found_with_nothing_to_restore() -> None:
    trail = read_trail(_line("repository", repository="web"), RUN)
    assert (trail.run_found, trail.images) == (True, ())


def test_filter_log_events_output_is_read_like_lines() -> None:
    answer = {"events": [{"message": _line("archive", **ARCHIVE)}], "searchedLogStreams": []}
    assert read_trail(json.dumps(answer), RUN).images[0].digest == digest("idx")


def test_a_json_report_gives_the_images_ecr_confirmed_archived() -> None:
    def entry(name: str, confirmed: bool) -> dict[str, Any]:
        return {"digest": digest(name), "tags": [name], "archived": confirmed}

    report = {
        "reportVersion": 1,
        "runId": RUN,
        "dryRun": False,
        "repositories": [
            {
                "region": "eu-west-1",
                "repository": "web",
                "archived": [entry("idx", True), entry("amd64", False)],
            },
            {"region": "eu-west-1", "repository": "api", "archived": []},
        ],
    }
    trail = read_trail(json.dumps(report), RUN)
    assert trail.images == (ArchivedImage("eu-west-1", "web", digest("idx"), ("idx",)),)
    assert not read_trail(json.dumps(report), "another-run").run_found
    assert read_trail(json.dumps({**report, "dryRun": True}), RUN).dry_run


def test_the_trail_keeps_each_images_account_and_the_same_digest_in_two_accounts_twice() -> None:
    """A run over many registries: the same repository and digest may be archived in two accounts."""
    lines = "\n".join(
        _line("archive", **{**ARCHIVE, "account": account}) for account in ("111122223333", "444455556666")
    )
    assert [image.account for image in read_trail(lines, RUN).images] == ["111122223333", "444455556666"]
    report = {
        "reportVersion": 1,
        "runId": RUN,
        "repositories": [
            {
                "region": "eu-west-1",
                "account": "111122223333",
                "repository": "web",
                "archived": [{"digest": digest("idx"), "tags": [], "archived": True}],
            }
        ],
    }
    assert read_trail(json.dumps(report), RUN).images[0].account == "111122223333"
    # Control: a trail written before runs recorded the account has none (restored with the caller's).
    assert read_trail(_line("archive", **ARCHIVE), RUN).images[0].account is None
