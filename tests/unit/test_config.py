"""Config validation: ECR's lifecycle grammar and limits, the janitor's own keys, and the error texts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ecr_janitor.config import ConfigError, load_config, parse_config
from tests.factories import archive_rule, config_document, rule, transition

ROOT = Path(__file__).resolve().parents[2]


def problems_of(document: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "test.yaml")
    return caught.value.problems


def with_rules(*documents: dict[str, Any], mode: str = "retain") -> dict[str, Any]:
    return config_document(mode=mode, policy={"rules": list(documents)})


def test_the_shipped_config_is_valid_and_a_dry_run() -> None:
    config = load_config(ROOT / "ecr-janitor.yaml")
    assert config.dry_run is True
    assert config.protect.in_use is True
    assert [t.mode for t in config.targets] == ["retain", "retain", "propagate"]


def test_defaults_are_safe() -> None:
    config = parse_config(config_document())
    assert config.dry_run is True
    assert config.regions is None
    assert config.protect.in_use is True
    assert config.protect.tags == []


def test_json_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config_document(dry_run=False)))
    assert load_config(path).dry_run is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets: [", "not valid YAML"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("", "the file is empty"),
        ("null\n", "top level must be a mapping, not NoneType"),
    ],
)
def test_unparseable_files_are_reported(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="can't read the file"):
        load_config(tmp_path / "nope.yaml")


# (rules, the problem text expected, which must also name the rule)
RULE_ERRORS: list[tuple[list[dict[str, Any]], str]] = [
    (
        [rule(1, "untagged", "sinceImagePushed", 14), rule(1, "untagged", "imageCountMoreThan", 3)],
        "duplicate rulePriority 1",
    ),
    (
        [rule(1, "any", "imageCountMoreThan", 5), rule(2, "untagged", "imageCountMoreThan", 3)],
        "rule 1: a tagStatus any rule must have the highest rulePriority",
    ),
    ([rule(1, "tagged", "imageCountMoreThan", 5)], "rule 1 (rules[0]) > selection: tagStatus tagged needs a"),
    (
        [rule(3, "tagged", "imageCountMoreThan", 5, patterns=["a*"], prefixes=["b"])],
        "rule 3 (rules[0]) > selection: tagStatus tagged takes tagPatternList or tagPrefixList, not both",
    ),
    (
        [rule(1, "untagged", "imageCountMoreThan", 5, prefixes=["b"])],
        "tagStatus untagged can't have a tagPatternList or tagPrefixList",
    ),
    (
        [rule(1, "tagged", "imageCountMoreThan", 5, patterns=["a*b*c*d*e*"])],
        "'a*b*c*d*e*' has 5 wildcards; ECR allows at most 4",
    ),
    ([rule(1, "untagged", "imageCountMoreThan", 0)], "countNumber must be at least 1, not 0"),
    (
        [rule(1, "tagged", "imageCountMoreThan", 1, patterns=[])],
        "the tag list of a tagged rule can't be empty",
    ),
]


@pytest.mark.parametrize(("documents", "expected"), RULE_ERRORS)
def test_ecr_rule_constraints(documents: list[dict[str, Any]], expected: str) -> None:
    problems = problems_of(with_rules(*documents))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("targets[0] (*)") for p in problems), problems


def test_count_unit_is_required_for_age_and_refused_for_counts() -> None:
    no_unit = rule(1, "untagged", "sinceImagePushed", 14)
    del no_unit["selection"]["countUnit"]
    stray_unit = rule(2, "untagged", "imageCountMoreThan", 3)
    stray_unit["selection"]["countUnit"] = "days"
    problems = problems_of(with_rules(no_unit, stray_unit))
    assert "countUnit is required with countType sinceImagePushed" in problems[0]
    assert "rule 1 (rules[0])" in problems[0]
    assert "countUnit is not allowed with countType imageCountMoreThan" in problems[1]
    assert "rule 2 (rules[1])" in problems[1]


def test_more_than_50_rules_is_an_error() -> None:
    many = [rule(p, "tagged", "imageCountMoreThan", 1, prefixes=[f"t{p}"]) for p in range(1, 52)]
    assert any("51 rules; ECR allows at most 50" in p for p in problems_of(with_rules(*many)))


def test_a_policy_longer_than_ecr_allows_is_an_error() -> None:
    long = [rule(p, "tagged", "imageCountMoreThan", 1, patterns=["x" * 600]) for p in range(1, 50)]
    assert any("characters as JSON; ECR allows 30720" in p for p in problems_of(with_rules(*long)))


def test_types_are_strict() -> None:
    doc = config_document()
    doc["dryRun"] = "false"
    doc["targets"][0]["policy"]["rules"][0]["selection"]["countNumber"] = "14"
    problems = problems_of(doc)
    assert "dryRun: Input should be a valid boolean" in problems
    assert any(
        "rule 1 (rules[0]) > selection.countNumber: Input should be a valid integer" in p for p in problems
    )


def test_misspelt_keys_are_errors_not_ignored() -> None:
    doc = config_document()
    doc["protect"] = {"tag": ["release-*"]}
    doc["dryrun"] = False
    problems = problems_of(doc)
    assert "protect.tag: unknown field (check the spelling; the README has the config reference)" in problems
    assert any(p.startswith("dryrun: unknown field") for p in problems)


def test_every_problem_is_reported_at_once() -> None:
    doc = config_document()
    doc["regions"] = ["us-east-1", "mars"]
    doc["targets"].append({"repositories": "*", "mode": "retain"})
    doc["targets"].append(copy.deepcopy(doc["targets"][0]) | {"mode": "delete"})
    problems = problems_of(doc)
    assert "regions: not a region name: mars" in problems
    assert "targets[1] > repositories: Input should be a valid list" in problems
    assert "targets[1] > policy: required field is missing" in problems
    assert "targets[2] (*) > mode: Input should be 'retain' or 'propagate'" in problems


def test_on_drift_belongs_to_propagate_targets() -> None:
    assert parse_config(config_document(mode="propagate", onDrift="report")).targets[0].on_drift == "report"
    assert parse_config(config_document(mode="propagate")).targets[0].on_drift == "overwrite"
    problems = problems_of(config_document(onDrift="overwrite"))
    assert problems == ["targets[0] (*): onDrift applies to mode propagate only"]
    assert (
        "Input should be 'overwrite' or 'report'"
        in problems_of(config_document(mode="propagate", onDrift="x"))[0]
    )


def test_on_risk_belongs_to_propagate_targets_and_holds_by_default() -> None:
    assert parse_config(config_document(mode="propagate")).targets[0].on_risk == "hold"
    assert parse_config(config_document(mode="propagate", onRisk="put")).targets[0].on_risk == "put"
    assert problems_of(config_document(onRisk="hold")) == [
        "targets[0] (*): onRisk applies to mode propagate only"
    ]
    assert "Input should be 'hold' or 'put'" in problems_of(config_document(mode="propagate", onRisk="x"))[0]


def test_retain_mode_accepts_ecr_archival_rules() -> None:
    config = parse_config(
        with_rules(
            transition(rule(1, "untagged", "sinceImagePushed", 14)),
            transition(rule(2, "tagged", "sinceImagePulled", 90, patterns=["v*"])),
            archive_rule(3, "any", 180),
        )
    )
    actions = [r.action.type for r in config.targets[0].policy.ordered_rules()]
    assert actions == ["transition", "transition", "expire"]
    assert config.protect.restore_grace_days == 7
    assert config.targets[0].allow_early_archive_deletion is False


def test_deleting_archived_images_before_90_days_needs_an_explicit_opt_in_in_retain_mode() -> None:
    early = archive_rule(1, "any", 30)
    problems = problems_of(with_rules(early))
    assert problems == [
        "targets[0] (*): rule 1: countNumber must be at least 90 with sinceImageTransitioned: ECR keeps "
        "archived images 90 days before a lifecycle policy may expire them; to delete earlier anyway, set "
        "allowEarlyArchiveDeletion: true on this target (ECR bills the full 90 days regardless)"
    ]
    document = with_rules(early)
    document["targets"][0]["allowEarlyArchiveDeletion"] = True
    assert parse_config(document).targets[0].allow_early_archive_deletion is True
    assert parse_config(with_rules(archive_rule(1, "any", 90))).targets[0].policy.rules[0].selection


def test_the_early_deletion_opt_in_is_retain_only_since_ecr_refuses_such_policies() -> None:
    document = with_rules(archive_rule(1, "any", 30), mode="propagate")
    document["targets"][0]["allowEarlyArchiveDeletion"] = True
    problems = problems_of(document)
    assert any("allowEarlyArchiveDeletion applies to mode retain only" in p for p in problems)
    assert any("countNumber must be at least 90 with sinceImageTransitioned" in p for p in problems)
    assert not any("allowEarlyArchiveDeletion: true on this target" in p for p in problems)


@pytest.mark.parametrize(("days", "ok"), [(0, True), (7, True), (30, True), (-1, False), ("7", False)])
def test_the_restore_grace_is_whole_days_and_zero_turns_it_off(days: Any, ok: bool) -> None:
    document = config_document()
    document["protect"] = {"restoreGraceDays": days}
    if ok:
        assert parse_config(document).protect.restore_grace_days == days
    else:
        assert problems_of(document)[0].startswith("protect.restoreGraceDays: ")


def test_propagate_mode_refuses_expiring_by_pull_time_which_ecr_rejects() -> None:
    pulled = rule(1, "any", "sinceImagePulled", 90)
    assert parse_config(with_rules(pulled)).targets[0].mode == "retain"
    problems = problems_of(with_rules(pulled, mode="propagate"))
    assert any("ECR accepts countType sinceImagePulled only with action transition" in p for p in problems)


def test_propagate_mode_accepts_ecr_archival_rules() -> None:
    transition = rule(1, "any", "sinceImagePulled", 90)
    transition["action"] = {"type": "transition", "targetStorageClass": "archive"}
    expire_archived = rule(2, "any", "sinceImageTransitioned", 365)
    expire_archived["selection"]["storageClass"] = "archive"
    with pytest.raises(ConfigError, match="tagStatus any rule must have the highest"):
        parse_config(with_rules(transition, expire_archived, mode="propagate"))
    transition["selection"]["tagStatus"] = "untagged"
    config = parse_config(with_rules(transition, expire_archived, mode="propagate"))
    assert config.targets[0].policy.document()["rules"][0]["action"]["targetStorageClass"] == "archive"


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("team-a/api", 0),
        ("team-a/tools/builder", 0),
        ("team-a/legacy-billing", 1),
        ("api", 0),
        ("api-gateway", 1),
        ("sandbox/x", None),
    ],
)
def test_the_first_matching_target_decides(repository: str, expected: int | None) -> None:
    policy = {"rules": [rule(1, "untagged", "sinceImagePushed", 14)]}
    config = parse_config(
        {
            "targets": [
                {
                    "repositories": ["team-a/*", "api"],
                    "exclude": ["team-a/legacy-*"],
                    "mode": "retain",
                    "policy": policy,
                },
                {"repositories": ["*"], "exclude": ["sandbox/*"], "mode": "retain", "policy": policy},
            ]
        }
    )
    match = config.target_for(repository)
    assert (match[0] if match else None) == expected


def test_policy_text_is_compact_json_with_ecr_key_names() -> None:
    config = parse_config(config_document())
    text = config.targets[0].policy.text()
    assert json.loads(text) == {"rules": [rule(1, "untagged", "sinceImagePushed", 14)]}
    assert " " not in text


def test_archived_images_expire_only_after_ecrs_90_day_minimum() -> None:
    early = rule(1, "any", "sinceImageTransitioned", 30)
    early["selection"]["storageClass"] = "archive"
    problems = problems_of(with_rules(early, mode="propagate"))
    assert any("countNumber must be at least 90 with sinceImageTransitioned" in p for p in problems)


@pytest.mark.parametrize(("revisions", "ok"), [(0, True), (1, True), (25, True), (-1, False)])
def test_in_use_windows_accept_zero_for_everything(revisions: int, ok: bool) -> None:
    doc = config_document()
    doc["protect"] = {"taskDefinitionRevisions": revisions, "lambdaVersions": revisions}
    if ok:
        assert parse_config(doc).protect.task_definition_revisions == revisions
    else:
        assert "greater than or equal to 0" in problems_of(doc)[0]


@pytest.mark.parametrize(
    ("protect", "expected"),
    [
        ({"inspector": "sometimes"}, "protect.inspector: Input should be 'off', 'auto' or 'required'"),
        ({"inspector": True}, "protect.inspector: Input should be 'off', 'auto' or 'required'"),
        ({"recentlyInUseDays": "7"}, "protect.recentlyInUseDays: Input should be a valid integer"),
        ({"recentlyInUseDays": -1}, "protect.recentlyInUseDays: Input should be greater than or equal to 0"),
        ({"inspector": "required", "inUse": False}, "protect: inspector: required needs inUse: true"),
        ({"inspector": "off", "recentlyInUseDays": 7}, "protect: recentlyInUseDays needs Inspector"),
    ],
)
def test_inspector_settings_are_checked(protect: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({**config_document(), "protect": protect})
    assert any(problem.startswith(expected) for problem in error.value.problems), error.value.problems


def test_inspector_is_used_when_on_and_says_so_by_default() -> None:
    protect = parse_config(config_document()).protect
    assert (protect.inspector, protect.recently_in_use_days) == ("auto", 0)
    chosen = parse_config(
        {**config_document(), "protect": {"inspector": "required", "recentlyInUseDays": 14}}
    )
    assert (chosen.protect.inspector, chosen.protect.recently_in_use_days) == ("required", 14)


# -- other accounts: accounts, protect.consumerAccounts, accessRole ----------------------------------

ROLE = {"accessRole": {"externalId": "ecr-janitor-7f3a"}}


@pytest.mark.parametrize(
    ("written", "ids", "ous"),
    [
        ([111122223333, "444455556666"], ("111122223333", "444455556666"), None),
        (["012345678901"], ("012345678901",), None),  # quoted: the leading zero survives
        ("organization", (), ()),
        ({"organization": None}, (), ()),
        ({"organization": {"ous": ["ou-ab12-cdef3456", "r-ab12"]}}, (), ("ou-ab12-cdef3456", "r-ab12")),
    ],
)
def test_accounts_are_ids_or_the_organization(written: Any, ids: tuple[str, ...], ous: Any) -> None:
    config = parse_config(
        {**config_document(), **ROLE, "accounts": written, "protect": {"consumerAccounts": written}}
    )
    for selection in (config.accounts, config.protect.consumer_accounts):
        assert selection is not None
        assert selection.ids == ids
        assert (selection.organization.ous if selection.organization else None) == ous
    assert config.reaches_other_accounts


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ([12345678901], "12345678901 is not a 12-digit account id (quote ids that begin with 0"),
        ([0o1234567012], "is not a 12-digit account id"),  # what YAML makes of an unquoted 01234567012
        (["1111-2222-3333"], "'1111-2222-3333' is not a 12-digit account id"),
        ([True], "True is not a 12-digit account id"),
        (["111122223333", 111122223333], "listed twice: 111122223333"),
        ([], "use a list of 12-digit account ids, `organization`, or `{organization: {ous: [ou-...]}}`"),
        ("organisation", "use a list of 12-digit account ids"),
        ({"organization": {"ous": ["ou-nope"]}}, "not an OU or root id (ou-xxxx-xxxxxxxx, r-xxxx): ou-nope"),
        ({"organization": {"ou": ["ou-ab12-cdef3456"]}}, "unknown field"),
        ({"ids": ["111122223333"]}, "use a list of 12-digit account ids"),
    ],
)
def test_bad_account_lists_are_named(written: Any, expected: str) -> None:
    (problem,) = problems_of({**config_document(), **ROLE, "accounts": written})
    assert problem.startswith("accounts")
    assert expected in problem


def test_unquoted_yaml_account_ids_are_read_and_a_zero_led_one_must_be_quoted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    rule_text = "{rulePriority: 1, selection: {tagStatus: any, countType: imageCountMoreThan, countNumber: 5}"
    path.write_text(
        "accessRole: {externalId: abc-123}\n"
        f"targets: [{{repositories: ['*'], mode: retain, policy: {{rules: [{rule_text}, "
        "action: {type: expire}}]}}]\n"
        "accounts: [111122223333, '012345678901']\n"
    )
    config = load_config(path)
    assert config.accounts is not None
    assert config.accounts.ids == ("111122223333", "012345678901")
    # Unquoted, YAML reads 012345670123 as an octal number: refused, never turned into another account.
    path.write_text(path.read_text().replace("'012345678901'", "012345670123"))
    with pytest.raises(ConfigError, match="1402433619 is not a 12-digit account id"):
        load_config(path)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"accounts": ["111122223333"]},
            "(top level): accounts and protect.consumerAccounts need accessRole",
        ),
        ({"protect": {"consumerAccounts": "organization"}}, "need accessRole: {name, externalId}"),
        ({**ROLE}, "accessRole is used only with accounts or protect.consumerAccounts"),
        (
            {**ROLE, "protect": {"consumerAccounts": "organization", "inUse": False}},
            "protect: consumerAccounts needs inUse: true",
        ),
        ({"accounts": "organization", "accessRole": {}}, "accessRole.externalId: required field is missing"),
        (
            {"accounts": "organization", "accessRole": {"externalId": "has space"}},
            "accessRole.externalId: an external id has 2 to 1224 letters, digits or _+=,.@:/-",
        ),
        (
            {"accounts": "organization", "accessRole": {"externalId": "x"}},
            "accessRole.externalId: an external id has 2 to 1224",
        ),
        (
            {"accounts": "organization", "accessRole": {"externalId": "a" * 1225}},
            "accessRole.externalId: an external id has 2 to 1224",
        ),
        (
            {"accounts": "organization", "accessRole": {"externalId": "ok-id", "name": "bad name"}},
            "accessRole.name: an IAM role name has 1 to 64 letters",
        ),
    ],
)
def test_the_access_role_is_needed_checked_and_only_where_used(
    document: dict[str, Any], expected: str
) -> None:
    problems = problems_of({**config_document(), **document})
    assert any(expected in problem for problem in problems), problems


def test_the_access_role_defaults_to_the_member_stacks_role_name() -> None:
    config = parse_config({**config_document(), **ROLE, "accounts": "organization"})
    assert config.access_role is not None
    assert config.access_role.name == "ecr-janitor-reader"
    edge = parse_config(
        {**config_document(), "accounts": "organization", "accessRole": {"externalId": "a" * 1224}}
    )
    assert edge.access_role is not None
    assert len(edge.access_role.external_id) == 1224


def test_a_config_without_other_accounts_reaches_none() -> None:
    config = parse_config(config_document())
    assert (config.accounts, config.protect.consumer_accounts, config.access_role) == (None, None, None)
    assert not config.reaches_other_accounts
