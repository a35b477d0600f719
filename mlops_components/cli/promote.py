"""`mlops promote --from dev --to staging --version N`: carry an approved model to the next stage.

The package is re-registered in the target stage's model package group (its stack's
``modelName``) with the target stage's ``approvalStatus``: promotion never approves, the next
stage's own approval does, and its deployer deploys only then. The artifacts are copied into
the target stage's bucket (:mod:`~mlops_components.sagemaker.promotion` says why).

Each stage is read from its own ``Pulumi.<stage>.yaml``: its group, its approval status and its
``aws:region``. Against AWS each side uses its own credentials (``--from-profile`` and
``--to-profile``: the registry and deployment accounts may differ), and the target bucket is the
target stack's ``bucket_name`` output (``--to-bucket``). With ``--local`` both sides are the
stages' local workdirs (``.mlops/<stage>``), and the target bucket is the one its offline plan
names (where `mlops up --local --stack <stage>` would put it).
"""

from __future__ import annotations

import argparse
import getpass
import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from mlops_components.cli.arguments import where
from mlops_components.cli.errors import EXIT_OK, error
from mlops_components.cli.registry import REGION_KEY, ArgumentProblem, aws_problem
from mlops_components.enums import ApprovalStatus
from mlops_components.local.commands import DEFAULT_PROJECT_DIR, Where
from mlops_components.project import load_project
from mlops_components.sagemaker.promotion import (
    Promotion,
    PromotionError,
    check_source,
    client_token,
    copies,
    earlier_promotion,
    promotion_request,
    reason_problem,
    split_uri,
)
from mlops_components.sagemaker.spec import (
    PROMOTED_AT_METADATA,
    PROMOTED_BY_METADATA,
    PROMOTED_FROM_METADATA,
)
from mlops_components.validation import REGION_RE

#: How a user finds the target bucket of a deployed stack.
BUCKET_HINT = "`pulumi stack output bucket_name --stack {stage}`"


def add_promote_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops promote` (called by cli/main.py)."""
    promote = commands.add_parser(
        "promote", help="re-register an approved model package in the next stage's registry "
                        "(pending that stage's approval)")
    promote.add_argument("--from", dest="source", required=True, metavar="STAGE",
                         help="stage (stack) the approved package is in, e.g. dev")
    promote.add_argument("--to", dest="target", required=True, metavar="STAGE",
                         help="stage (stack) that receives it, e.g. staging")
    promote.add_argument("--version", type=int, required=True, metavar="N",
                         help="version of the package in the source stage's group")
    promote.add_argument("--comment", default="",
                         help="why (kept with the promoted package as mlops:promotion-reason)")
    promote.add_argument("--project-dir", type=Path, default=DEFAULT_PROJECT_DIR,
                         help="directory with Pulumi.yaml and the stages' Pulumi.<stage>.yaml "
                              "(default: .)")
    promote.add_argument("--local", action="store_true",
                         help="promote between the stages' local registries (.mlops/<stage>)")
    promote.add_argument("--from-workdir", type=Path, metavar="DIR",
                         help="with --local: the source stage's workdir (default: "
                              ".mlops/<from>)")
    promote.add_argument("--to-workdir", type=Path, metavar="DIR",
                         help="with --local: the target stage's workdir (default: "
                              ".mlops/<to>, created if needed)")
    promote.add_argument("--to-bucket", metavar="BUCKET",
                         help="the target stage's bucket, where the artifacts are copied "
                              "(AWS: required, the target stack's bucket_name output; "
                              "--local: default, the bucket its offline plan names)")
    promote.add_argument("--from-profile", metavar="PROFILE",
                         help="AWS profile of the source stage's account (default: your "
                              "default credentials)")
    promote.add_argument("--to-profile", metavar="PROFILE",
                         help="AWS profile of the target stage's account (default: your "
                              "default credentials)")
    promote.add_argument("--endpoint-url", metavar="URL",
                         help="talk to an emulator (e.g. moto) instead of AWS")
    promote.set_defaults(handler=promote_command)


@dataclass
class _Stage:
    """One side of a promotion: its registry, group and artifacts."""

    name: str
    group: str
    approval_status: ApprovalStatus
    registry: Any
    where: str
    s3: Any = None
    """boto3 S3 client (AWS), or :class:`~mlops_components.local.workdir.LocalS3`."""
    workdir: Any = None
    """With --local: the stage's :class:`~mlops_components.local.workdir.LocalWorkdir`."""


def promote_command(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_components.sagemaker.packages import RegistryError

    problem = reason_problem(args.comment)
    if problem:
        return error(f"--comment {problem} (rephrase or shorten it)")
    try:
        source, target, bucket, promoted_by = _stages(args)
        package = source.registry.get(source.group, args.version)
        promotion = Promotion(source=package, target_group=target.group, target_bucket=bucket,
                              approval_status=target.approval_status,
                              promoted_by=promoted_by,
                              promoted_at=datetime.now(UTC).isoformat(timespec="seconds"),
                              reason=args.comment)
        check_source(package, source.group)
        earlier = earlier_promotion(target.registry.packages(target.group),
                                    package["ModelPackageArn"])
        if earlier is None:
            request = promotion_request(promotion)
            _copy_artifacts(args.local, source, target, copies(promotion))
            _carry_lineage(args.local, source, target, promotion)
            promoted, created = _register(args.local, target, request,
                                          package["ModelPackageArn"])
        else:
            promoted, created = earlier, False
    except (ArgumentProblem, PromotionError, RegistryError) as problem:
        return error(str(problem))
    except (BotoCoreError, ClientError) as problem:
        return error(aws_problem(problem))
    _report(Console(), args, source, target, package, promoted, created)
    return EXIT_OK


def _stages(args: argparse.Namespace) -> tuple[_Stage, _Stage, str, str]:
    """The two stages, the target bucket and who promotes; every refusal before any call
    that changes something."""
    from mlops_components.config import parse_config

    if args.source == args.target:
        raise ArgumentProblem(f"--from {args.source} --to {args.target}: the same stage; "
                              "promote to the next one (e.g. --from dev --to staging)")
    if not args.local:
        for flag in ("from_workdir", "to_workdir"):
            if getattr(args, flag) is not None:
                raise ArgumentProblem(f"--{flag.replace('_', '-')}: only with --local")
    elif args.from_profile or args.to_profile or args.endpoint_url:
        raise ArgumentProblem("--from-profile, --to-profile and --endpoint-url: not with "
                              "--local (the local registries need no credentials)")
    project = load_project(args.project_dir)
    configs = {stage: project.stack_config(stage) for stage in (args.source, args.target)}
    parsed = {stage: parse_config(config, project=project.name)
              for stage, config in configs.items()}
    groups = {stage: parsed[stage].model_name for stage in configs}
    statuses = {stage: ApprovalStatus(parsed[stage].approval_status) for stage in configs}
    if args.local:
        return _local_stages(args, project, groups, statuses)
    return _aws_stages(args, configs, groups, statuses)


def _local_stages(args: argparse.Namespace, project: Any, groups: dict[str, str],
                  statuses: dict[str, ApprovalStatus]) -> tuple[_Stage, _Stage, str, str]:
    from mlops_components.local.workdir import (
        LocalWorkdir,
        WorkdirError,
        default_workdir,
        writable_workdir,
    )
    from mlops_components.sagemaker.packages import RegistryError

    source_dir = Path(args.from_workdir or default_workdir(project.directory, args.source))
    if not source_dir.is_dir():
        flag = "--from-workdir" if args.from_workdir else \
            f"the default workdir of stage {args.source}"
        raise ArgumentProblem(f"{flag} {source_dir}: no such folder "
                              f"({where(_at(args, args.source)).quoted('up')} creates it)")
    target_dir = Path(args.to_workdir or default_workdir(project.directory, args.target))
    if args.to_workdir and not target_dir.is_dir() and not target_dir.parent.is_dir():
        raise ArgumentProblem(f"--to-workdir {target_dir}: its folder {target_dir.parent} "
                              "does not exist (the workdir itself is created, as `mlops up` "
                              "creates its --workdir)")
    source_layout = LocalWorkdir(source_dir)
    if groups[args.source] not in source_layout.registry.groups():
        raise RegistryError(f"no packages in group {groups[args.source]} under "
                            f"{source_layout.registry.root}")
    try:
        target_layout = writable_workdir(target_dir)
    except WorkdirError as problem:
        raise ArgumentProblem(f"the target workdir {problem}") from problem
    bucket = args.to_bucket or _planned_bucket(project.directory, args.target)
    source = _Stage(args.source, groups[args.source], statuses[args.source],
                    source_layout.registry, f"local registry {source_layout.registry.root}",
                    source_layout.s3, source_layout)
    target = _Stage(args.target, groups[args.target], statuses[args.target],
                    target_layout.registry, f"local registry {target_layout.registry.root}",
                    target_layout.s3, target_layout)
    return source, target, bucket, getpass.getuser()


def _planned_bucket(project_dir: Path, stage: str) -> str:
    """The bucket the stage's offline plan names (the local runtime's bucket of that stage)."""
    from mlops_components.plan import plan_stack

    return plan_stack(project_dir, stage).outputs["bucket_name"]


def _aws_stages(args: argparse.Namespace, configs: dict[str, dict[str, str]],
                groups: dict[str, str],
                statuses: dict[str, ApprovalStatus]) -> tuple[_Stage, _Stage, str, str]:
    import boto3

    from mlops_components.sagemaker.packages import RegistryError, SageMakerRegistry

    if not args.to_bucket:
        raise ArgumentProblem(f"--to-bucket: required against AWS (the {args.target} stack's "
                              f"bucket, {BUCKET_HINT.format(stage=args.target)}); the "
                              "artifacts are copied there")
    if args.endpoint_url is not None and not args.endpoint_url.startswith(("http://",
                                                                           "https://")):
        raise ArgumentProblem(f"--endpoint-url {args.endpoint_url!r}: must be an http:// or "
                              "https:// URL")
    stages = []
    for stage, profile in ((args.source, args.from_profile), (args.target, args.to_profile)):
        region = configs[stage].get(REGION_KEY)
        if region is not None and not REGION_RE.match(region):
            raise ArgumentProblem(f"{REGION_KEY} of stack {stage} {region!r}: must be an AWS "
                                  "region such as 'eu-west-1'")
        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
        except Exception as problem:  # botocore's ProfileNotFound
            flag = "--from-profile" if stage == args.source else "--to-profile"
            raise ArgumentProblem(f"{flag} {profile}: {problem}") from problem
        sagemaker = session.client("sagemaker", endpoint_url=args.endpoint_url)
        s3 = session.client("s3", endpoint_url=args.endpoint_url)
        label = f"{args.endpoint_url or 'SageMaker'} ({region or 'default region'}" + (
            f", profile {profile})" if profile else ")")
        stages.append((session, _Stage(stage, groups[stage], statuses[stage],
                                       SageMakerRegistry(sagemaker, s3), label, s3)))
    (_, source), (target_session, target) = stages
    if source.group == target.group and source.where == target.where:
        raise ArgumentProblem(f"--from {args.source} --to {args.target}: both stages are group "
                              f"{source.group!r} in {source.where}; a stage's group must be "
                              "its own (modelName in Pulumi.<stage>.yaml)")
    for stage in (source, target):
        if not stage.registry.has_group(stage.group):
            raise RegistryError(f"no model package group {stage.group!r} (stage "
                                f"{stage.name}'s modelName) in {stage.where}: has `pulumi up "
                                f"--stack {stage.name}` created it?")
    identity = target_session.client("sts", endpoint_url=args.endpoint_url)
    return source, target, args.to_bucket, identity.get_caller_identity()["Arn"]


def _at(args: argparse.Namespace, stage: str) -> Where:
    return Where(stack=stage, project_dir=args.project_dir)


def _copy_artifacts(local: bool, source: _Stage, target: _Stage,
                    renamed: dict[str, str]) -> None:
    """Copy every artifact (an object, or every object under a prefix) to its new URI;
    a missing one is refused before the package is registered."""
    for old, new in renamed.items():
        if local:
            objects = source.s3.objects(old)
            if not objects:
                raise PromotionError(f"artifact {old} is missing from {source.where}; "
                                     "nothing was promoted")
            from mlops_components.local.workdir import copy_objects

            base = target.s3.path(new)
            if source.s3.path(old).is_file():
                base.parent.mkdir(parents=True, exist_ok=True)
                copy_objects([(base.name, objects[0][1])], base.parent)
            else:
                copy_objects(objects, base)
            continue
        bucket, key = split_uri(old)
        target_bucket, target_key = split_uri(new)
        keys = _object_keys(source.s3, bucket, key)
        if not keys:
            raise PromotionError(f"artifact {old} is missing (no such object in the source "
                                 "stage's bucket); nothing was promoted")
        for found in keys:
            body = source.s3.get_object(Bucket=bucket, Key=found)["Body"]
            target.s3.upload_fileobj(body, target_bucket, target_key + found[len(key):])


def _carry_lineage(local: bool, source: _Stage, target: _Stage,
                   promotion: Promotion) -> None:
    """Write the source package's lineage into the target bucket (where the promoted package's
    ``mlops:lineage-uri`` points): its manifest, the execution and steps the source stage
    knows of, and the chain of packages so far. Read with the source's access, so the target
    stage (another account, perhaps) needs none to show it."""
    from mlops_components.sagemaker.lineage import carried_manifest
    from mlops_components.sagemaker.promotion import lineage_copy_uri
    from mlops_components.sagemaker.spec import LINEAGE_METADATA

    package = promotion.source
    if local:
        from mlops_components.local.lineage import lineage_facts

        facts = lineage_facts(source.workdir, package)
    else:
        facts = _sagemaker_facts(source, package)
    manifest = facts["manifest"] if isinstance(facts["manifest"], dict) else None
    copied = carried_manifest(
        package, manifest,
        manifest_uri=(package.get("CustomerMetadataProperties") or {}).get(
            LINEAGE_METADATA, ""),
        execution=facts["execution"], steps=facts["steps"], data=facts["data"])
    body = json.dumps(copied, indent=2, sort_keys=True, default=str) + "\n"
    uri = lineage_copy_uri(promotion)
    if local:
        from mlops_components.local.atomic import write_atomic

        write_atomic(target.s3.path(uri), body)
        return
    bucket, key = split_uri(uri)
    target.s3.put_object(Bucket=bucket, Key=key, Body=body.encode(),
                         ContentType="application/json")


def _sagemaker_facts(source: _Stage, package: dict[str, Any]) -> dict[str, Any]:
    """The source's lineage facts; an execution the promoter may not read (access denied)
    is carried as what the package says of it, and why no more."""
    from botocore.exceptions import ClientError

    from mlops_components.cli.lineage import sagemaker_facts
    from mlops_components.sagemaker.lineage import RECORDED, execution_reference
    from mlops_components.sagemaker.spec import LINEAGE_METADATA

    try:
        return sagemaker_facts(source.registry.sagemaker, source.s3, source.registry, package)
    except ClientError as problem:
        reference = execution_reference(package) or {}
        uri = (package.get("CustomerMetadataProperties") or {}).get(LINEAGE_METADATA, "")
        text = source.registry.read_text(uri) if uri else None
        return {"execution": {"arn": reference.get("arn", ""),
                              "id": reference.get("execution_id", ""),
                              "pipeline": reference.get("pipeline", ""),
                              "note": "could not be read when it was promoted: "
                                      f"{aws_problem(problem)}"} if reference else {},
                "steps": [], "data": {"version_ids": RECORDED if text else ""}, "earlier": [],
                "manifest": json.loads(text) if text else None}


def _object_keys(s3: Any, bucket: str, key: str) -> list[str]:
    """``key`` itself if it is an object, else the objects under ``key/``."""
    folder = key.rstrip("/") + "/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        found += [item["Key"] for item in page.get("Contents", [])
                  if item["Key"] == key or item["Key"].startswith(folder)]
    return [key] if key in found else found


def _register(local: bool, target: _Stage, request: dict[str, Any],
              source_arn: str) -> tuple[dict[str, Any], bool]:
    if local:
        return target.registry.register_unique(request, PROMOTED_FROM_METADATA)
    token = client_token(source_arn, target.group)
    return target.registry.register({**request, "ClientToken": token}), True


def _report(console: Console, args: argparse.Namespace, source: _Stage, target: _Stage,
            package: dict[str, Any], promoted: dict[str, Any], created: bool) -> None:
    version = promoted["ModelPackageVersion"]
    status = promoted["ModelApprovalStatus"]
    if not created:
        facts = promoted.get("CustomerMetadataProperties") or {}
        console.print(f"already promoted: version {package['ModelPackageVersion']} of "
                      f"{source.group} ({source.name}) is version {version} of {target.group} "
                      f"({target.name}), {status} (promoted "
                      f"{facts.get(PROMOTED_AT_METADATA, '?')} by "
                      f"{facts.get(PROMOTED_BY_METADATA, '?')}); nothing created",
                      highlight=False, soft_wrap=True)
        return
    console.print(f"promoted {package['ModelPackageArn']} ({source.name}) -> "
                  f"{promoted['ModelPackageArn']} ({target.name}): version {version} of "
                  f"{target.group}, {status}", highlight=False, soft_wrap=True)
    if status != ApprovalStatus.APPROVED.value:
        approve = ["mlops", "approve", "--stack", target.name]
        if args.local:
            approve.insert(2, "--local")
        if Path(args.project_dir) != DEFAULT_PROJECT_DIR:
            approve += ["--project-dir", str(args.project_dir)]
        if args.local and args.to_workdir:
            approve += ["--workdir", str(args.to_workdir)]
        approve += ["--version", str(version)]
        console.print(f"{target.name} deploys it once approved there: "
                      f"`{shlex.join(approve)}`", highlight=False, soft_wrap=True)
