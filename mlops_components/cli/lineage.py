"""`mlops lineage`: one package's chain from its data to the endpoint that serves it.

data objects (URI + version) -> pipeline execution -> its jobs (profile, preprocess, training
or tuning, evaluation) -> evaluation (metrics, the gate) -> registered package (code, reports,
baselines; approval: by whom, why, when; promotion from another stage when recorded) ->
the endpoint serving it now, or none.

With ``--local`` the facts come from the local registry and the execution's record
(``jobs/<execution>/lineage-record.json``); otherwise from SageMaker and S3 (or an emulator with
``--endpoint-url``): DescribeModelPackage, DescribePipelineExecution,
ListPipelineExecutionSteps, ListPipelineParametersForExecution, the lineage manifest the
RecordLineage step wrote (``mlops:lineage-uri``: the input's objects and version IDs at the
execution's start) or, for a package without one, the input prefix's object versions
(ListObjectVersions: the version of each object current at the execution's start), and the
endpoint's tags (the deployer names the package it deployed). ``--json`` prints the
record instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from mlops_components.cli.arguments import add_registry_arguments, where
from mlops_components.cli.errors import EXIT_OK, error
from mlops_components.cli.registry import (
    REGION_KEY,
    ArgumentProblem,
    aws_problem,
    missing_group,
    missing_sagemaker_group,
)
from mlops_components.cli.render import format_metrics
from mlops_components.project import ProjectError, load_project
from mlops_components.sagemaker.endpoint import endpoint_name as stack_endpoint_name
from mlops_components.sagemaker.lineage import PROMOTED_WITHOUT_LINEAGE
from mlops_components.sagemaker.packages import RegistryError
from mlops_components.validation import ValidationError


def add_lineage_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops lineage` (called by cli/main.py)."""
    lineage = commands.add_parser(
        "lineage", help="a package's chain: data (with versions) -> execution -> jobs -> "
                        "evaluation -> package and approval -> endpoint")
    add_registry_arguments(lineage)
    add_version_arguments(lineage)
    lineage.set_defaults(handler=lineage_command)


def add_version_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", type=int, help="package version (default: the latest)")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")


def lineage_command(args: argparse.Namespace) -> int:
    record, problem = gather(args)
    if record is None:
        return error(problem)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        render_chain(Console(), record)
    return EXIT_OK


def gather(args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    """The record of the package ``args`` name, or None and one line saying why not."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_components.config import parse_config

    if args.version is not None and args.version < 1:
        return None, f"--version {args.version}: must be a package version, 1 or more"
    try:
        project = load_project(args.project_dir)
        stack_config = project.stack_config(args.stack)
        config = parse_config(stack_config, project=project.name)
        group = args.group or config.model_name
        if args.local:
            return _local(args, project, group), ""
        region = args.region or stack_config.get(REGION_KEY)
        return aws_lineage(region, args.endpoint_url, group, args.version,
                           stack_endpoint_name(config.model_name)), ""
    except (ProjectError, ValidationError, RegistryError, ArgumentProblem) as problem:
        return None, str(problem).strip("'\"")
    except (BotoCoreError, ClientError) as problem:
        return None, aws_problem(problem)


def _local(args: argparse.Namespace, project: Any, group: str) -> dict[str, Any]:
    from mlops_components.local.lineage import local_lineage
    from mlops_components.local.workdir import LocalWorkdir, default_workdir

    workdir = LocalWorkdir(Path(args.workdir or default_workdir(project.directory, args.stack)))
    missing = missing_group(workdir.registry, group)
    if missing:
        raise RegistryError(missing)
    package = workdir.registry.get(group, args.version)
    serve = where(args, args.group).quoted("serve", version=package["ModelPackageVersion"])
    return local_lineage(workdir, package, serve)


def aws_lineage(region: str | None, endpoint_url: str | None, group: str,
                version: int | None, endpoint_name: str) -> dict[str, Any]:
    """The record of a package in SageMaker (clients from the caller's credentials)."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return sagemaker_lineage(session.client("sagemaker", endpoint_url=endpoint_url),
                             session.client("s3", endpoint_url=endpoint_url), group, version,
                             endpoint_name, endpoint_url or "SageMaker")


def sagemaker_lineage(sagemaker: Any, s3: Any, group: str, version: int | None,
                      endpoint_name: str, where_label: str) -> dict[str, Any]:
    """The record of a package from a SageMaker and an S3 client (boto3's, or an emulator's)."""
    from mlops_components.functions.deployer.config import TAG_PACKAGE_ARN
    from mlops_components.sagemaker.lineage import build_record
    from mlops_components.sagemaker.packages import SageMakerRegistry, package_metrics

    registry = SageMakerRegistry(sagemaker, s3)
    if not registry.has_group(group):
        raise RegistryError(missing_sagemaker_group(group, where_label))
    package = registry.get(group, version)
    facts = sagemaker_facts(sagemaker, s3, registry, package)
    endpoint: dict[str, Any] = {"name": endpoint_name, "serving": False}
    described_endpoint = _found(lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name))
    if described_endpoint is None:
        endpoint["line"] = f"{endpoint_name}: not created yet (no package deployed)"
    else:
        tags = {tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(
            ResourceArn=described_endpoint["EndpointArn"]).get("Tags", [])}
        live = tags.get(TAG_PACKAGE_ARN, "")
        endpoint["serving"] = live == package["ModelPackageArn"]
        endpoint["line"] = (f"{endpoint_name} ({described_endpoint['EndpointStatus']}) serves it"
                            if endpoint["serving"] else
                            f"{endpoint_name} ({described_endpoint['EndpointStatus']}) serves "
                            f"another package: {live or 'unknown'}")
    return build_record(package, where=where_label, execution=facts["execution"],
                        steps=facts["steps"], data=facts["data"],
                        metrics=package_metrics(package, registry.read_text),
                        endpoint=endpoint, earlier=facts["earlier"])


def sagemaker_facts(sagemaker: Any, s3: Any, registry: Any,
                    package: dict[str, Any]) -> dict[str, Any]:
    """What SageMaker and S3 say of a package's lineage: ``execution``, ``steps``, ``data``,
    ``earlier`` and ``manifest`` (the one ``mlops:lineage-uri`` names, as read). A promoted
    package's carried manifest answers them all from the package's own bucket: nothing is
    asked of the source stage (another account, perhaps)."""
    from mlops_components.sagemaker.lineage import (
        RECORDED,
        RESOLVED,
        carried,
        carried_facts,
        execution_reference,
        promoted_execution,
        versions_at,
    )
    from mlops_components.sagemaker.spec import LINEAGE_METADATA, PipelineParameter

    manifest_uri = package.get("CustomerMetadataProperties", {}).get(LINEAGE_METADATA, "")
    text = registry.read_text(manifest_uri) if manifest_uri else None
    manifest = json.loads(text) if text else None
    if carried(manifest):
        return carried_facts(manifest, manifest_uri) | {"manifest": manifest}
    reference = execution_reference(package)
    execution: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []
    data: dict[str, Any] = {"input_uri": "", "objects": [], "version_ids": RESOLVED,
                            "recorded": False}
    if reference is not None and reference.get("promoted"):
        execution = promoted_execution(reference)
    elif reference is not None:
        arn = reference["arn"]
        execution = {"arn": arn, "id": reference["execution_id"],
                     "pipeline": reference["pipeline"]}
        described = _found(lambda: sagemaker.describe_pipeline_execution(
            PipelineExecutionArn=arn))
        if described is None:
            execution["status"] = "not found (deleted, or in another account or region)"
        else:
            execution.update(status=described.get("PipelineExecutionStatus", ""),
                             started=str(described.get("CreationTime", "")))
            steps = [step for page in sagemaker.get_paginator(
                "list_pipeline_execution_steps").paginate(PipelineExecutionArn=arn)
                for step in page.get("PipelineExecutionSteps", [])]
            parameters = {item["Name"]: item["Value"] for page in sagemaker.get_paginator(
                "list_pipeline_parameters_for_execution").paginate(PipelineExecutionArn=arn)
                for item in page.get("PipelineParameters", [])}
            input_uri = parameters.get(PipelineParameter.INPUT_DATA_URI.value, "")
            data["input_uri"] = input_uri
            if input_uri.startswith("s3://") and described.get("CreationTime"):
                data["objects"] = versions_at(_object_versions(s3, input_uri),
                                              described["CreationTime"], input_uri)
    if isinstance(manifest, dict):  # what RecordLineage wrote at the start wins
        data.update(input_uri=manifest.get("input_uri", data["input_uri"]),
                    objects=manifest.get("objects", []), version_ids=RECORDED, recorded=True,
                    manifest_uri=manifest_uri)
    return {"execution": execution, "steps": steps, "data": data, "earlier": [],
            "manifest": manifest}


def _object_versions(s3: Any, prefix_uri: str) -> list[dict[str, Any]]:
    """Every version and delete marker under an ``s3://`` prefix."""
    bucket, _, prefix = prefix_uri.removeprefix("s3://").partition("/")
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket,
                                                                   Prefix=prefix):
        found += page.get("Versions", [])
        found += [{**marker, "IsDeleteMarker": True} for marker in page.get("DeleteMarkers", [])]
    return found


def _found(call: Any) -> Any:
    """A Describe call's answer, or None when the resource does not exist."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as problem:
        text = str(problem)
        if any(words in text for words in ("does not exist", "Could not find", "not found",
                                           "ResourceNotFound", "ValidationException")):
            return None
        raise


# ---- rendering ------------------------------------------------------------------------


def chain_lines(record: dict[str, Any]) -> list[str]:
    """The chain as lines of plain text, data first."""
    lines = [f"lineage of {record['group']} version {record['version']} ({record['where']})"]
    data = record["data"]
    lines.append(f"data        {data.get('input_uri') or 'input prefix unknown'}")
    for item in data.get("objects", []):
        source = f", from {item['source']}" if item.get("source") else ""
        size = f", {item['bytes']} bytes" if item.get("bytes") is not None else ""
        lines.append(f"            {item['uri']} version {item['version_id']}{size}{source}")
    if not data.get("objects"):
        lines.append("            no data objects found (" + (
            "known only in the source stage: promoted without its lineage"
            if record["execution"].get("note") == PROMOTED_WITHOUT_LINEAGE else
            "none recorded, or no longer listed") + ")")
    elif data.get("version_ids"):
        lines.append(f"            version IDs: {data['version_ids']}")
    if data.get("manifest_uri"):
        lines.append(f"            lineage manifest {data['manifest_uri']}")
    if data.get("carried"):
        lines.append("            (carried by its promotion" + (
            f": a copy of {data['copied_from']})" if data.get("copied_from") else ")"))
    if data.get("fingerprint"):
        lines.append(f"            training data fingerprint {data['fingerprint']}")
    lines.append("  -> execution   " + execution_text(record["execution"]))
    for job in record["jobs"]:
        lines.append(f"  -> {job['step']:<10} {job['kind']} {job['job']} ({job['status']})")
    evaluation = record["evaluation"]
    value = evaluation.get("gate_value")
    gate = (f"gate metric {evaluation['gate_metric']} = {value:.4f}"
            if evaluation.get("gate_metric") and isinstance(value, (int, float)) else
            f"gate metric {evaluation['gate_metric']} (not in the evaluation report)"
            if evaluation.get("gate_metric") else "no gate metric recorded")
    outcome = {"True": "passed", "False": "failed"}.get(
        evaluation.get("quality_gate"),
        "outcome not recorded (" + ("the gate did not run" if record["jobs"] else
                                    "the execution's steps are not known here") + ")")
    lines.append(f"  -> evaluation  {format_metrics(evaluation['metrics']) or 'no metrics'}; "
                 f"{gate}, quality gate "
                 f"{outcome}" + (f"; report {evaluation['report_uri']}"
                                 if evaluation.get("report_uri") else ""))
    for earlier in record.get("earlier_packages", []):
        lines.append(f"  -> package     {earlier['arn']} (registered {earlier['created']})")
        lines.append("                " + approval_line(earlier.get("approval") or {}))
        if earlier.get("promotion"):
            lines.append("                " + promotion_line(earlier["promotion"]))
    package = record["package"]
    lines.append(f"  -> package     {package['arn']} (registered {package['created']})")
    if package.get("code_uri"):
        lines.append(f"                code {package['code_uri']} (content hash "
                     f"{package.get('code_hash') or '?'})")
    if package.get("eda_report_uri"):
        lines.append(f"                EDA report {package['eda_report_uri']}")
    for name, uri in package.get("baselines", {}).items():
        lines.append(f"                baseline {name} {uri}")
    lines.append("                " + approval_line(record["approval"]))
    promotion = record.get("promotion")
    if promotion:
        lines.append("                " + promotion_line(promotion))
    lines.append(f"  -> endpoint    {record['endpoint'].get('line', '')}")
    return lines


def execution_text(execution: dict[str, Any]) -> str:
    """The execution as one line: its ARN and status, or what is known and why no more."""
    if not execution:
        return "unknown (the package names no pipeline execution)"
    name = execution.get("arn") or (f"execution {execution.get('id', '')} of pipeline "
                                    f"{execution.get('pipeline', '')}")
    facts = [execution.get("status") or "status not recorded"]
    if execution.get("started"):
        facts.append(f"started {execution['started']}")
    if execution.get("note"):
        facts = [execution["note"]] if not execution.get("status") else [
            *facts, execution["note"]]
    return f"{name} ({', '.join(facts)})"


def promotion_line(promotion: dict[str, Any]) -> str:
    by = promotion.get("by") or "an unrecorded identity"
    at = promotion.get("at") or "an unrecorded time"
    return (f"promoted from {promotion['from']} by {by} at {at}: "
            f"{promotion.get('reason') or '(no reason given)'}")


def approval_line(approval: dict[str, Any]) -> str:
    status = approval.get("status", "?")
    if status == "PendingManualApproval":
        return f"approval: {status} (nobody has decided yet)"
    if not approval.get("when"):
        return f"approval: {status} at registration (the stack's approvalStatus)"
    why = f": {approval['why']}" if approval.get("why") else " (no comment)"
    return f"approval: {status} by {approval.get('by') or 'unknown'} at {approval['when']}{why}"


def render_chain(console: Console, record: dict[str, Any]) -> None:
    for line in chain_lines(record):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def record_lines(record: dict[str, Any]) -> list[str]:
    """One package's record as ``field: value`` lines (`mlops status --version N`)."""
    package, evaluation, data = record["package"], record["evaluation"], record["data"]
    execution = record["execution"]
    rows = [
        ("package", f"{record['group']} version {record['version']} ({record['where']})"),
        ("arn", package["arn"]),
        ("status", record["approval"].get("status", "")),
        ("approval", approval_line(record["approval"]).removeprefix("approval: ")),
        ("registered", package["created"]),
        ("metrics", format_metrics(evaluation["metrics"]) or "-"),
        ("gate metric", evaluation.get("gate_metric") or "-"),
        ("training data", data.get("fingerprint") or "-"),
        ("data objects", f"{len(data.get('objects', []))} under "
                         f"{data.get('input_uri') or 'an unknown prefix'}"),
        ("execution", execution_text(execution) if execution else "-"),
        ("jobs", ", ".join(f"{job['step']} {job['job']}" for job in record["jobs"]) or "-"),
        ("model data", package.get("model_data") or "-"),
        ("code", f"{package.get('code_uri') or '-'} (hash {package.get('code_hash') or '?'})"),
        ("EDA report", package.get("eda_report_uri") or "-"),
        ("evaluation", evaluation.get("report_uri") or "-"),
        *((f"baseline {name}", uri) for name, uri in package.get("baselines", {}).items()),
        ("promoted from", (record.get("promotion") or {}).get("from", "-")),
        *(("earlier package", entry["arn"]) for entry in record.get("earlier_packages", [])),
        ("endpoint", record["endpoint"].get("line", "")),
    ]
    return [f"{name + ':':<22}{value}" for name, value in rows]


def render_record(console: Console, record: dict[str, Any]) -> None:
    for line in record_lines(record):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
