"""The janitor's config: targets, protections and execution settings, loaded and validated with clear errors.

The whole document is validated before any AWS call. Every problem is reported at once, each one
naming the target, the rule and the field, so a user can fix a config in one pass. The lifecycle-policy
grammar a target carries is ECR's own (core.lifecycle).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from ecr_janitor.config_file import ConfigError as ConfigError
from ecr_janitor.config_file import read_document
from ecr_janitor.constants import (
    ACCESS_ROLE_DEFAULT_NAME,
    ACCOUNT_ID_PATTERN,
    EXTERNAL_ID_PATTERN,
    ROLE_NAME_PATTERN,
)
from ecr_janitor.core.lifecycle import MIN_ARCHIVE_DAYS, MIN_POLICY_TEXT_LENGTH, CamelModel, LifecyclePolicy
from ecr_janitor.core.patterns import matches_any

Mode = Literal["retain", "propagate"]
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


EKS_AUTO, EKS_OFF = "auto", "off"
EKS_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
"""EKS's own rule for a cluster name (CreateCluster): 1-100 characters, alphanumerics, `-` and `_`."""


class Eks(CamelModel):
    """`protect.eks`: the EKS clusters whose workloads count as in use (adapters/eks.py reads them).

    `eks: auto` (the default), `eks: off` and `eks: [name, ...]` are shorthands for `clusters`. A cluster
    that can't be read withholds deletions unless it is in `ignoreClusters`, which only reports it.
    """

    clusters: StrictStr | list[StrictStr] = EKS_AUTO
    """`auto`: every cluster of every configured region; `off`; or these names, in every configured region."""
    ignore_clusters: list[StrictStr] = Field(default_factory=list)
    """Clusters still read when they can be, whose failure to be read only warns."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, (str, list, bool)):
            return {"clusters": value}
        return value

    @field_validator("clusters", mode="before")
    @classmethod
    def _auto_off_or_names(cls, value: Any) -> Any:
        # YAML 1.1 (PyYAML) reads a bare `off` as false, and `on` as true.
        if value is False:
            return EKS_OFF
        if value is True:
            raise ValueError("true is ambiguous here: use auto, off or a list of cluster names")
        if not isinstance(value, (str, list)) or (
            isinstance(value, list) and not all(isinstance(name, str) for name in value)
        ):
            raise ValueError("use auto, off or a list of cluster names")
        return value

    @field_validator("clusters", "ignore_clusters")
    @classmethod
    def _names(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            if value not in (EKS_AUTO, EKS_OFF):
                raise ValueError(f"{value!r}: use auto, off or a list of cluster names")
            return value
        bad = [name for name in value if not EKS_CLUSTER_NAME.fullmatch(name)]
        if bad:
            raise ValueError(
                f"not an EKS cluster name: {', '.join(map(repr, bad))} (1-100 letters, digits, - and _)"
            )
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.clusters == []:
            raise ValueError("clusters is an empty list; to read no cluster, use off")
        if self.clusters == EKS_OFF and self.ignore_clusters:
            raise ValueError("ignoreClusters has no effect with clusters off")
        return self

    @property
    def enabled(self) -> bool:
        return self.clusters != EKS_OFF

    @property
    def discover(self) -> bool:
        """Find the clusters with ListClusters; otherwise read exactly the listed names."""
        return self.clusters == EKS_AUTO

    @property
    def names(self) -> tuple[str, ...]:
        """The clusters listed by name; empty with auto or off."""
        return tuple(self.clusters) if isinstance(self.clusters, list) else ()


# -- other accounts: whose workloads are read (protect.consumerAccounts), whose registries are cleaned
# (accounts), and the role the janitor assumes in each (accessRole) --------------------------------------

ORGANIZATION = "organization"
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)
_PARENT_ID = re.compile(r"^(?:r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$")
"""Organizations' ParentId: a root or an OU (botocore's organizations model)."""
_ACCESS_ROLE_TEXT = {
    "name": (re.compile(ROLE_NAME_PATTERN), "an IAM role name has 1 to 64 letters, digits or _+=,.@-"),
    "external_id": (
        re.compile(EXTERNAL_ID_PATTERN),
        "an external id has 2 to 1224 letters, digits or _+=,.@:/-, and no spaces",
    ),
}
"""IAM's RoleName and STS AssumeRole's ExternalId (botocore's sts model), and what to say when wrong."""
_ACCOUNTS_FORMS = (
    f"a list of 12-digit account ids, `{ORGANIZATION}`, or `{{{ORGANIZATION}: {{ous: [ou-...]}}}}`"
)


def _account_id(value: object) -> str:
    """A 12-digit id. YAML reads an unquoted id as a number: that is accepted when it has 12 digits.
    An id that begins with 0 must be quoted (YAML would drop the zero, or read the number as octal)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and _ACCOUNT_ID.fullmatch(text.strip()):
        return text.strip()
    raise ValueError(f"{value!r} is not a 12-digit account id (quote ids that begin with 0: '012345678901')")


class OrganizationScope(CamelModel):
    ous: tuple[StrictStr, ...] = ()
    """OU ids (or the root, r-...): the accounts under them, nested OUs included; empty: every account."""

    @field_validator("ous")
    @classmethod
    def _parent_ids(cls, ous: tuple[str, ...]) -> tuple[str, ...]:
        bad = [ou for ou in ous if not _PARENT_ID.fullmatch(ou)]
        if bad:
            raise ValueError(f"not an OU or root id (ou-xxxx-xxxxxxxx, r-xxxx): {', '.join(bad)}")
        return ous


class AccountSelection(CamelModel):
    """Accounts as a config lists them: ids, or every ACTIVE account of the organization (under OUs)."""

    ids: tuple[str, ...] = ()
    organization: OrganizationScope | None = None

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, value: object) -> object:
        if isinstance(value, AccountSelection):
            return value
        if value == ORGANIZATION:
            return {"organization": OrganizationScope()}
        if isinstance(value, Mapping) and set(value) == {ORGANIZATION}:
            return {"organization": value[ORGANIZATION] or {}}
        if isinstance(value, list) and value:
            ids = [_account_id(item) for item in value]
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise ValueError(f"listed twice: {', '.join(twice)}")
            return {"ids": tuple(ids)}
        raise ValueError(f"use {_ACCOUNTS_FORMS}")

    def describe(self) -> str:
        if self.organization is None:
            return ", ".join(self.ids)
        under = f" under {', '.join(self.organization.ous)}" if self.organization.ous else ""
        return f"every ACTIVE account of the organization{under}"

    @model_serializer(mode="plain")
    def _as_written(self) -> object:
        """The form a user writes, so that the deployed JSON config reads back the same."""
        if self.organization is None:
            return list(self.ids)
        if not self.organization.ous:
            return ORGANIZATION
        return {ORGANIZATION: {"ous": list(self.organization.ous)}}


class AccessRole(CamelModel):
    """The role the janitor assumes in every other account (stack EcrJanitorMemberRole creates it)."""

    name: StrictStr = ACCESS_ROLE_DEFAULT_NAME
    external_id: StrictStr
    """What the role's trust policy requires as sts:ExternalId."""

    @field_validator("name", "external_id")
    @classmethod
    def _iam_text(cls, value: str, info: ValidationInfo) -> str:
        pattern, rule = _ACCESS_ROLE_TEXT[str(info.field_name)]
        if not pattern.fullmatch(value):
            raise ValueError(rule)
        return value


class Protect(CamelModel):
    in_use: StrictBool = True
    tags: list[StrictStr] = Field(default_factory=list)
    task_definition_revisions: StrictInt = Field(default=5, ge=0)
    """ECS: the newest N ACTIVE revisions of each task definition family are in use; 0 means all."""
    lambda_versions: StrictInt = Field(default=5, ge=0)
    """Lambda: the newest N published versions of each image function are in use (and $LATEST, alias
    targets); 0 means all."""
    extra_image_lists: list[StrictStr] = Field(default_factory=list)
    """`ssm:/parameter/name` or `s3://bucket/key`: image URIs in use where the janitor can't look."""
    inspector: Literal["off", "auto", "required"] = "auto"
    """Amazon Inspector's count of ECS tasks and EKS pods per image: `auto` uses it where Inspector's ECR
    scanning is enabled, `required` withholds deletions where it isn't, `off` never asks."""
    recently_in_use_days: StrictInt = Field(default=0, ge=0)
    """Keep any image Inspector saw in use in the last N days (its `lastInUseAt`); 0: in use now only."""
    consumer_accounts: AccountSelection | None = None
    """Other accounts whose workloads may run this registry's images: read through `accessRole`."""
    # -- the archive storage class --
    restore_grace_days: StrictInt = Field(default=7, ge=0)
    """An image ECR restored from the archive (its `lastActivatedAt`) less than this many days ago is
    neither archived nor expired again, so an undo sticks; 0 turns the grace off."""

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

    @model_validator(mode="after")
    def _inspector_needs_in_use(self) -> Self:
        if not self.in_use and self.inspector == "required":
            raise ValueError("inspector: required needs inUse: true (Inspector is an in-use source)")
        if self.recently_in_use_days and (self.inspector == "off" or not self.in_use):
            raise ValueError(
                "recentlyInUseDays needs Inspector: set inspector to auto or required, and inUse to true"
            )
        if self.consumer_accounts is not None and not self.in_use:
            raise ValueError("consumerAccounts needs inUse: true (their workloads are in-use sources)")
        return self

    eks: Eks = Field(default_factory=Eks)
    """EKS clusters as an in-use source (read only with inUse, like ECS, Lambda and Batch)."""

    @model_validator(mode="after")
    def _eks_needs_in_use(self) -> Self:
        if not self.in_use and "eks" in self.model_fields_set and self.eks.enabled:
            raise ValueError("eks reads workloads, which inUse false turns off; set eks: off or inUse: true")
        return self

    @property
    def reads_eks(self) -> bool:
        return self.in_use and self.eks.enabled


class Execution(CamelModel):
    """How hard a run may push ECR, and when the Lambda stops starting repositories."""

    workers: StrictInt = Field(default=16, ge=1, le=64)
    """Repositories processed at the same time, per region."""
    max_requests_per_second: StrictInt = Field(default=150, ge=1)
    """All ECR calls of one region together; botocore's adaptive retries slow down further on throttling."""
    reserve_seconds: StrictInt = Field(default=120, ge=10, le=600)
    """The Lambda starts no repository with less time than this left, so none is cut off mid-batch."""


class Target(CamelModel):
    repositories: list[StrictStr] = Field(min_length=1)
    exclude: list[StrictStr] = Field(default_factory=list)
    mode: Mode
    policy: LifecyclePolicy
    on_drift: Literal["overwrite", "report"] = "overwrite"
    """Propagate mode: replace a repository's own, different policy, or only report it."""
    on_risk: Literal["hold", "put"] = "hold"
    """Propagate mode: a policy under which ECR would expire (or archive) an image the janitor protects (in
    use, a protected tag, listed by a kept index) is held back (`hold`), or written anyway (`put`)."""
    allow_early_archive_deletion: StrictBool = False
    """Retain mode: rules may delete archived images before ECR's 90-day minimum archive duration.
    ECR bills the full 90 days anyway."""

    @model_validator(mode="after")
    def _mode_rules(self) -> Self:
        problems: list[str] = []
        if self.mode == "retain" and "on_drift" in self.model_fields_set:
            problems.append("onDrift applies to mode propagate only")
        if self.mode == "retain" and "on_risk" in self.model_fields_set:
            problems.append("onRisk applies to mode propagate only")
        if self.mode == "propagate" and self.allow_early_archive_deletion:
            problems.append(
                "allowEarlyArchiveDeletion applies to mode retain only: ECR's own lifecycle policies "
                f"never expire an image archived for less than {MIN_ARCHIVE_DAYS} days"
            )
        for rule in self.policy.ordered_rules():
            sel = rule.selection
            if (
                self.mode == "propagate"
                and sel.count_type == "sinceImagePulled"
                and rule.action.type == "expire"
            ):
                problems.append(
                    f"rule {rule.rule_priority}: ECR accepts countType sinceImagePulled only with action "
                    "transition; to expire by last pull, use mode retain"
                )
            if rule.expires_archived_early and not (
                self.mode == "retain" and self.allow_early_archive_deletion
            ):
                how = (
                    "; to delete earlier anyway, set allowEarlyArchiveDeletion: true on this target "
                    f"(ECR bills the full {MIN_ARCHIVE_DAYS} days regardless)"
                    if self.mode == "retain"
                    else ""
                )
                problems.append(
                    f"rule {rule.rule_priority}: countNumber must be at least {MIN_ARCHIVE_DAYS} with "
                    f"sinceImageTransitioned: ECR keeps archived images {MIN_ARCHIVE_DAYS} days before a "
                    f"lifecycle policy may expire them{how}"
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


class Config(CamelModel):
    dry_run: StrictBool = True
    regions: list[StrictStr] | None = Field(default=None, min_length=1)
    protect: Protect = Field(default_factory=Protect)
    execution: Execution = Field(default_factory=Execution)
    targets: list[Target] = Field(min_length=1)
    accounts: AccountSelection | None = None
    """The registries to clean, each through `accessRole`; None: the credentials' own account only."""
    access_role: AccessRole | None = None

    @model_validator(mode="after")
    def _access_role_when_reaching_out(self) -> Self:
        reaching_out = self.accounts is not None or self.protect.consumer_accounts is not None
        if reaching_out and self.access_role is None:
            raise ValueError(
                "accounts and protect.consumerAccounts need accessRole: {name, externalId}, the role "
                "the janitor assumes in each account (stack EcrJanitorMemberRole)"
            )
        if self.access_role is not None and not reaching_out:
            raise ValueError("accessRole is used only with accounts or protect.consumerAccounts")
        return self

    @property
    def reaches_other_accounts(self) -> bool:
        return self.access_role is not None

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
    """The config in the file at `path`, validated; a ConfigError (naming the file) when it can't be used."""
    path = Path(path)
    return parse_config(read_document(path), str(path))


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
