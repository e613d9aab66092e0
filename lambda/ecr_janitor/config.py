"""The janitor's config: its model, ECR's lifecycle-policy grammar and limits, and clear errors.

The whole document is validated before any AWS call. Every problem is reported at once, each one
naming the target, the rule and the field, so a user can fix a config in one pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ecr_janitor.patterns import matches_any, wildcard_count

# ECR's documented limits for a lifecycle policy.
MAX_RULES = 50
MIN_POLICY_TEXT_LENGTH = 100
MAX_POLICY_TEXT_LENGTH = 30_720
MAX_WILDCARDS_PER_PATTERN = 4
MIN_ARCHIVE_DAYS = 90

SKIP_TAG_KEY = "ecr-janitor:skip"
SKIP_TAG_VALUE = "true"

Mode = Literal["retain", "propagate"]
TagStatus = Literal["tagged", "untagged", "any"]
CountType = Literal["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"]
AGE_COUNT_TYPES = frozenset({"sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"})
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class ConfigError(Exception):
    """The config can't be used. Nothing was done; `problems` says why, one line each."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid config {source}: {len(self.problems)} problem(s)\n{listed}")


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Selection(_Model):
    tag_status: TagStatus
    tag_pattern_list: list[StrictStr] | None = None
    tag_prefix_list: list[StrictStr] | None = None
    storage_class: Literal["standard", "archive"] | None = None
    count_type: CountType
    count_unit: Literal["days"] | None = None
    count_number: StrictInt

    @model_validator(mode="after")
    def _ecr_selection_rules(self) -> Self:
        problems: list[str] = []
        patterns, prefixes = self.tag_pattern_list, self.tag_prefix_list
        if self.tag_status == "tagged":
            if patterns is None and prefixes is None:
                problems.append("tagStatus tagged needs a tagPatternList or a tagPrefixList")
            elif patterns is not None and prefixes is not None:
                problems.append("tagStatus tagged takes tagPatternList or tagPrefixList, not both")
            elif not (patterns or prefixes):
                problems.append("the tag list of a tagged rule can't be empty")
        elif patterns is not None or prefixes is not None:
            problems.append(f"tagStatus {self.tag_status} can't have a tagPatternList or tagPrefixList")
        for pattern in patterns or []:
            if not pattern:
                problems.append("tagPatternList: a pattern can't be empty")
            elif wildcard_count(pattern) > MAX_WILDCARDS_PER_PATTERN:
                problems.append(
                    f"tagPatternList: {pattern!r} has {wildcard_count(pattern)} wildcards; "
                    f"ECR allows at most {MAX_WILDCARDS_PER_PATTERN}"
                )
        if any(not prefix for prefix in prefixes or []):
            problems.append("tagPrefixList: a prefix can't be empty")
        if self.count_type in AGE_COUNT_TYPES and self.count_unit is None:
            problems.append(f"countUnit is required with countType {self.count_type} (use days)")
        if self.count_type == "imageCountMoreThan" and self.count_unit is not None:
            problems.append("countUnit is not allowed with countType imageCountMoreThan")
        if self.count_number < 1:
            problems.append(f"countNumber must be at least 1, not {self.count_number}")
        if self.count_type == "sinceImageTransitioned" and self.storage_class != "archive":
            problems.append("countType sinceImageTransitioned needs storageClass archive")
        if self.count_type != "sinceImageTransitioned" and self.storage_class == "archive":
            problems.append("storageClass archive goes only with countType sinceImageTransitioned")
        if self.count_type == "sinceImageTransitioned" and self.count_number < MIN_ARCHIVE_DAYS:
            problems.append(
                f"countNumber must be at least {MIN_ARCHIVE_DAYS} with sinceImageTransitioned: ECR keeps "
                f"archived images {MIN_ARCHIVE_DAYS} days before a lifecycle policy may expire them"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Action(_Model):
    type: Literal["expire", "transition"]
    target_storage_class: Literal["archive"] | None = None

    @model_validator(mode="after")
    def _target_storage_class(self) -> Self:
        if self.type == "transition" and self.target_storage_class is None:
            raise ValueError("action transition needs targetStorageClass archive")
        if self.type == "expire" and self.target_storage_class is not None:
            raise ValueError("targetStorageClass goes only with action transition")
        return self


class Rule(_Model):
    rule_priority: StrictInt
    description: StrictStr | None = None
    selection: Selection
    action: Action

    @model_validator(mode="after")
    def _rule_rules(self) -> Self:
        if self.rule_priority < 1:
            raise ValueError(f"rulePriority must be at least 1, not {self.rule_priority}")
        if self.action.type == "transition" and self.selection.count_type == "sinceImageTransitioned":
            raise ValueError("an archived image can't be transitioned again: use action expire")
        return self

    @property
    def summary(self) -> str:
        """A short human label, e.g. `rule 2 (untagged, sinceImagePushed > 14 days)`."""
        if self.description:
            return f"rule {self.rule_priority} ({self.description})"
        sel = self.selection
        tags = sel.tag_pattern_list or sel.tag_prefix_list
        what = f"{sel.tag_status} {','.join(tags)}" if tags else sel.tag_status
        unit = f" {sel.count_unit}" if sel.count_unit else ""
        return f"rule {self.rule_priority} ({what}, {sel.count_type} {sel.count_number}{unit})"


class LifecyclePolicy(_Model):
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _policy_rules(self) -> Self:
        problems: list[str] = []
        if len(self.rules) > MAX_RULES:
            problems.append(f"{len(self.rules)} rules; ECR allows at most {MAX_RULES}")
        priorities = [rule.rule_priority for rule in self.rules]
        duplicates = sorted({p for p in priorities if priorities.count(p) > 1})
        if duplicates:
            problems.append(f"duplicate rulePriority {', '.join(map(str, duplicates))}")
        highest = max(priorities)
        for rule in self.rules:
            if rule.selection.tag_status == "any" and rule.rule_priority != highest:
                problems.append(
                    f"rule {rule.rule_priority}: a tagStatus any rule must have the highest rulePriority "
                    f"(it is evaluated last); {highest} is higher"
                )
        if len(self.text()) > MAX_POLICY_TEXT_LENGTH:
            problems.append(
                f"the policy is {len(self.text())} characters as JSON; ECR allows {MAX_POLICY_TEXT_LENGTH}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def document(self) -> dict[str, Any]:
        """The policy as an ECR lifecycle policy document (ECR's own key names)."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def text(self) -> str:
        """The exact text the janitor sends to PutLifecyclePolicy."""
        return json.dumps(self.document(), separators=(",", ":"), sort_keys=True)

    def ordered_rules(self) -> list[Rule]:
        return sorted(self.rules, key=lambda rule: rule.rule_priority)


class Protect(_Model):
    in_use: StrictBool = True
    tags: list[StrictStr] = Field(default_factory=list)
    task_definition_revisions: StrictInt = Field(default=5, ge=0)
    """ECS: the newest N ACTIVE revisions of each task definition family are in use; 0 means all."""
    lambda_versions: StrictInt = Field(default=5, ge=0)
    """Lambda: the newest N published versions of each image function are in use (and $LATEST, alias
    targets); 0 means all."""
    extra_image_lists: list[StrictStr] = Field(default_factory=list)
    """`ssm:/parameter/name` or `s3://bucket/key`: image URIs in use where the janitor can't look."""

    @field_validator("extra_image_lists")
    @classmethod
    def _locations(cls, locations: list[str]) -> list[str]:
        for location in locations:
            if location.startswith("ssm:") and len(location) > len("ssm:"):
                continue
            bucket, _, key = location.removeprefix("s3://").partition("/")
            if location.startswith("s3://") and bucket and key:
                continue
            raise ValueError(f"{location!r} is neither ssm:NAME nor s3://BUCKET/KEY")
        return locations


class Execution(_Model):
    """How hard a run may push ECR, and when the Lambda stops starting repositories."""

    workers: StrictInt = Field(default=16, ge=1, le=64)
    """Repositories processed at the same time, per region."""
    max_requests_per_second: StrictInt = Field(default=150, ge=1)
    """All ECR calls of one region together; botocore's adaptive retries slow down further on throttling."""
    reserve_seconds: StrictInt = Field(default=120, ge=10, le=600)
    """The Lambda starts no repository with less time than this left, so none is cut off mid-batch."""


class Target(_Model):
    repositories: list[StrictStr] = Field(min_length=1)
    exclude: list[StrictStr] = Field(default_factory=list)
    mode: Mode
    policy: LifecyclePolicy
    on_drift: Literal["overwrite", "report"] = "overwrite"
    """Propagate mode: replace a repository's own, different policy, or only report it."""

    @model_validator(mode="after")
    def _mode_rules(self) -> Self:
        problems: list[str] = []
        if self.mode == "retain" and "on_drift" in self.model_fields_set:
            problems.append("onDrift applies to mode propagate only")
        for rule in self.policy.ordered_rules():
            sel = rule.selection
            if self.mode == "retain":
                if rule.action.type == "transition" or sel.count_type == "sinceImageTransitioned":
                    problems.append(
                        f"rule {rule.rule_priority}: retain mode deletes images and can't archive them; "
                        "archival rules need mode propagate"
                    )
            elif sel.count_type == "sinceImagePulled" and rule.action.type == "expire":
                problems.append(
                    f"rule {rule.rule_priority}: ECR accepts countType sinceImagePulled only with action "
                    "transition; to expire by last pull, use mode retain"
                )
        if self.mode == "propagate" and len(self.policy.text()) < MIN_POLICY_TEXT_LENGTH:
            problems.append(
                f"the policy is {len(self.policy.text())} characters as JSON; "
                f"ECR needs at least {MIN_POLICY_TEXT_LENGTH}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def covers(self, repository: str) -> bool:
        return (
            matches_any(self.repositories, repository) is not None
            and matches_any(self.exclude, repository) is None
        )

    @property
    def label(self) -> str:
        return ", ".join(self.repositories)


class Config(_Model):
    dry_run: StrictBool = True
    regions: list[StrictStr] | None = Field(default=None, min_length=1)
    protect: Protect = Field(default_factory=Protect)
    execution: Execution = Field(default_factory=Execution)
    targets: list[Target] = Field(min_length=1)

    @field_validator("regions")
    @classmethod
    def _region_names(cls, regions: list[str] | None) -> list[str] | None:
        bad = [region for region in regions or [] if not _REGION.fullmatch(region)]
        if bad:
            raise ValueError(f"not a region name: {', '.join(bad)}")
        return regions

    def target_for(self, repository: str) -> tuple[int, Target] | None:
        """The first target that covers the repository, with its index; None leaves it untouched."""
        for index, target in enumerate(self.targets):
            if target.covers(repository):
                return index, target
        return None


def parse_config(data: object, source: str = "<config>") -> Config:
    if not isinstance(data, Mapping):
        raise ConfigError(source, [f"the top level must be a mapping, not {type(data).__name__}"])
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, [_describe(err, data) for err in error.errors()]) from None


def load_config(path: Path | str) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(path), [f"can't read the file: {error.strerror or error}"]) from None
    return parse_config(_parse_text(text, path), str(path))


def _parse_text(text: str, path: Path) -> object:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(str(path), [f"not valid JSON: {error}"]) from None
    import yaml  # YAML is for people; the deployed function reads JSON and doesn't need PyYAML.

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(str(path), [f"not valid YAML: {error}"]) from None


def _describe(error: Any, data: Mapping[str, Any]) -> str:
    """One line for one validation error, naming target, rule and field in the user's own words."""
    loc: tuple[Any, ...] = tuple(error["loc"])
    context: list[str] = []
    fields: list[str] = []
    node: Any = data
    index = 0
    while index < len(loc):
        key = loc[index]
        nxt = loc[index + 1] if index + 1 < len(loc) else None
        if key == "targets" and isinstance(nxt, int):
            node = _item(node, "targets", nxt)
            repos = node.get("repositories") if isinstance(node, Mapping) else None
            label = f" ({', '.join(map(str, repos))})" if isinstance(repos, list) and repos else ""
            context.append(f"targets[{nxt}]{label}")
            fields, index = [], index + 2
        elif key == "rules" and isinstance(nxt, int):
            node = _item(node, "rules", nxt)
            priority = node.get("rulePriority") if isinstance(node, Mapping) else None
            label = f"rule {priority} (rules[{nxt}])" if priority is not None else f"rules[{nxt}]"
            context.append(label)
            fields, index = [], index + 2
        elif key == "policy" and nxt == "rules":
            node = node.get(key) if isinstance(node, Mapping) else None
            index += 1
        else:
            if isinstance(key, str) and not key.startswith(("function-", "literal[", "list[")):
                fields.append(key)
            elif isinstance(key, int):
                fields.append(f"[{key}]")
            node = node.get(key) if isinstance(node, Mapping) else None
            index += 1
    where = " > ".join([*context, ".".join(fields).replace(".[", "[")] if fields else context)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; the README has the config reference)"
    elif error["type"] == "missing":
        message = "required field is missing"
    return f"{where or '(top level)'}: {message}"


def _item(node: Any, key: str, index: int) -> Any:
    items = node.get(key) if isinstance(node, Mapping) else None
    return items[index] if isinstance(items, list) and 0 <= index < len(items) else None
