"""ECR's lifecycle-policy grammar and its documented limits, as a validated model (pure).

The same document is what retain mode evaluates (core.retain) and what propagate mode puts on a
repository (core.propagate), so a repository can move between the modes without a rewrite.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator
from pydantic.alias_generators import to_camel

from ecr_janitor.core.patterns import wildcard_count

# ECR's documented limits for a lifecycle policy.
MAX_RULES = 50
MIN_POLICY_TEXT_LENGTH = 100
MAX_POLICY_TEXT_LENGTH = 30_720
MAX_WILDCARDS_PER_PATTERN = 4
MIN_ARCHIVE_DAYS = 90
"""ECR's minimum archive storage duration: lifecycle policies can't expire an image archived for less,
and an earlier BatchDeleteImage is billed for the full 90 days (ECR user guide, "Archiving an image")."""

TagStatus = Literal["tagged", "untagged", "any"]
CountType = Literal["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"]
AGE_COUNT_TYPES = frozenset({"sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"})


class CamelModel(BaseModel):
    """ECR's own key names (camelCase); unknown keys refused; immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Selection(CamelModel):
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
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Action(CamelModel):
    type: Literal["expire", "transition"]
    target_storage_class: Literal["archive"] | None = None

    @model_validator(mode="after")
    def _target_storage_class(self) -> Self:
        if self.type == "transition" and self.target_storage_class is None:
            raise ValueError("action transition needs targetStorageClass archive")
        if self.type == "expire" and self.target_storage_class is not None:
            raise ValueError("targetStorageClass goes only with action transition")
        return self


class Rule(CamelModel):
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
    def expires_archived_early(self) -> bool:
        """Deletes archived images before ECR's minimum archive duration (ECR bills the full 90 days, and
        its own lifecycle policies refuse such a rule; the janitor only with an explicit opt-in)."""
        sel = self.selection
        return sel.count_type == "sinceImageTransitioned" and sel.count_number < MIN_ARCHIVE_DAYS

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


class LifecyclePolicy(CamelModel):
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
