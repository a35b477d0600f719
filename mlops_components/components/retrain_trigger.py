"""RetrainTrigger: EventBridge rules that start the training pipeline, with a cooldown.

Three sources, each its own rule:

- ``schedule``: a cron or rate expression;
- ``new-data``: S3 ``Object Created`` under the raw prefix of this bucket (the bucket sends its
  notifications to EventBridge);
- ``drift``: ``CloudWatch Alarm State Change`` to ``ALARM`` of this model's drift alarms only
  (matched by exact name).

A source with a cooldown (by default new-data and drift), and every source when a champion is
compared (only code can look the champion up), targets a small gate Lambda
(``functions/retrain_gate.py``): it starts an execution only if none is running and none
started within the cooldown, re-checks a held event at the cooldown's end (an alarm that stays
in ALARM sends no second event), lets new data settle before training on its prefix, and passes
the prefix and the champion as parameters. Its state is one DynamoDB item per pipeline claimed
by a conditional write (no reserved concurrency: small accounts cannot reserve any), and its
re-checks are one-time EventBridge Scheduler schedules in its own group. A source without the
gate targets the pipeline directly (EventBridge's SageMaker pipeline target, with a role that
may only ``StartPipelineExecution`` on that one pipeline). Every target has a retry policy and
a dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_components import functions
from mlops_components.bucket_layout import PREFIXES
from mlops_components.components.event_delivery import (
    DEFAULT_MAX_EVENT_AGE_SECONDS,
    DEFAULT_RETRY_ATTEMPTS,
    allow_dead_letters,
    dead_letter_queue,
    delivery,
)
from mlops_components.components.iam import assume_role_policy, policy_document, statement
from mlops_components.components.inputs import cross_language
from mlops_components.components.lambdas import (
    RUNTIME,
    function_logs,
    function_role,
    single_file_code,
)
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.enums import RetrainSource
from mlops_components.sagemaker.spec import PipelineParameter
from mlops_components.validation import (
    DEFAULT_COOLDOWN_SECONDS,
    MAX_COOLDOWN_SECONDS,
    Problems,
    is_known,
    schedule_problem,
)

GATE_SOURCE = Path(functions.__file__).parent / "retrain_gate.py"
DEFAULT_SETTLE_SECONDS = 300
"""New data waits this long before training: a multi-file upload is one execution."""
MAX_SETTLE_SECONDS = 3600


def new_data_pattern(bucket_name: str, prefix: str = PREFIXES["raw"]) -> dict[str, Any]:
    """EventBridge pattern: an object created in ``bucket_name`` under ``prefix`` only."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]},
                   "object": {"key": [{"prefix": prefix}]}},
    }


def drift_alarm_pattern(alarm_names: Sequence[str]) -> dict[str, Any]:
    """EventBridge pattern: one of these alarms (exact names) entering ALARM, nothing else."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": sorted(alarm_names), "state": {"value": ["ALARM"]}},
    }


@dataclass
class RetrainTriggerArgs:
    """Inputs of a RetrainTrigger."""

    pipeline_name: pulumi.Input[str] | None = None
    """The training pipeline to start. Required; MlopsStack sets it."""

    pipeline_arn: pulumi.Input[str] | None = None
    """Its ARN (what targets and the roles name). Required; MlopsStack sets it."""

    schedule_expression: str | None = None
    """Retrain on a schedule, e.g. 'rate(7 days)' or 'cron(0 3 ? * MON *)'. Default: none."""

    bucket_name: pulumi.Input[str] | None = None
    """Retrain when objects are created in this bucket under raw_prefix (its EventBridge
    notifications must be on, as DataBucket's are). Default: none (no new-data rule)."""

    raw_prefix: str = PREFIXES["raw"]
    """Key prefix of new training data. Default: "raw/"."""

    drift_alarm_names: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    """Retrain when one of these alarms enters ALARM (ModelMonitor.drift_alarm_names, an
    Output of a non-empty list, is fine). Default: none (no drift rule)."""

    cooldown_seconds: int = DEFAULT_COOLDOWN_SECONDS
    """Minimum time between executions started by gated sources; 0 sends them straight to
    the pipeline. Default: 3600."""

    cooldown_sources: Sequence[str] = (RetrainSource.NEW_DATA, RetrainSource.DRIFT)
    """Sources that go through the cooldown gate: "schedule", "new-data" or "drift" (the
    RetrainSource values). Default: new-data and drift."""

    settle_seconds: int = DEFAULT_SETTLE_SECONDS
    """How long new data settles before the gate trains on its prefix (0-3600), so the first
    file of an upload does not start training on a partial prefix. Default: 300."""

    model_package_group_name: pulumi.Input[str] | None = None
    """Group whose latest Approved package the gate passes as the champion. Default: none."""

    champion_parameter: str | None = None
    """Training pipeline parameter that receives the champion's model artifact (the gate
    passes it only when the group has an approved package). Default: none."""

    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    """EventBridge retries of a failed delivery before dead-lettering (0-185). Default: 3."""

    max_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS
    """How long EventBridge keeps retrying an event (60-86400). Default: 3600."""

    purpose: str = "Retrain"
    """What the started pipeline does, as the rules' descriptions start (BatchInference's
    trigger says "Score a batch"). Default: "Retrain"."""

    model_name: str | None = None
    """Model this trigger retrains, used in tags. Default: none."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""


@cross_language(RetrainTriggerArgs)
class RetrainTrigger(pulumi.ComponentResource):
    """EventBridge rules from schedule, new data and drift to the training pipeline."""

    rule_names: pulumi.Output[dict[str, str]]
    """Rule name per source (``schedule``, ``new-data``, ``drift``) that exists."""
    dead_letter_queue_arn: pulumi.Output[str]
    """The queue that receives events no target could take."""
    gate_function_name: pulumi.Output[str | None]
    """The cooldown gate Lambda, when a source uses it."""

    def __init__(self, name: str, args: RetrainTriggerArgs,
                 opts: pulumi.ResourceOptions | None = None):
        sources = _validate(name, args)
        super().__init__("mlops:index:RetrainTrigger", name, None, opts)
        tags = tags_for(args.model_name, args.tags)
        # Only the gate can look up the champion, so with one every source goes through it.
        gated = {source for source in sources if args.champion_parameter or (
            args.cooldown_seconds > 0 and source in set(args.cooldown_sources))}
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        pipeline_arn = pulumi.Output.from_input(args.pipeline_arn)

        rules: dict[RetrainSource, aws.cloudwatch.EventRule] = {}
        descriptions = {
            RetrainSource.SCHEDULE: f"{args.purpose} on schedule {args.schedule_expression}",
            RetrainSource.NEW_DATA: f"{args.purpose} on new objects under {args.raw_prefix}",
            RetrainSource.DRIFT: f"{args.purpose} when a drift alarm of this model enters "
                                 "ALARM",
        }
        for source in sources:
            if source is RetrainSource.SCHEDULE:
                rule_inputs: dict[str, Any] = {"schedule_expression": args.schedule_expression}
            elif source is RetrainSource.NEW_DATA:
                rule_inputs = {"event_pattern": pulumi.Output.from_input(args.bucket_name).apply(
                    lambda bucket: json.dumps(new_data_pattern(bucket, args.raw_prefix),
                                              sort_keys=True))}
            else:
                rule_inputs = {"event_pattern": pulumi.Output.from_input(
                    args.drift_alarm_names).apply(
                    lambda names: json.dumps(drift_alarm_pattern(names), sort_keys=True))}
            rules[source] = aws.cloudwatch.EventRule(
                f"{name}-{source.value}", description=descriptions[source], tags=tags,
                opts=child_opts(self), **rule_inputs)

        dlq = dead_letter_queue(f"{name}-dlq", self, tags)
        allow_dead_letters(f"{name}-dlq-policy", self, dlq, list(rules.values()))
        deliver = delivery(dlq, args.retry_attempts, args.max_event_age_seconds)

        direct = [source for source in sources if source not in gated]
        if direct:
            start_role = aws.iam.Role(
                f"{name}-start-role",
                assume_role_policy=assume_role_policy("events.amazonaws.com",
                                                      source_account=identity.account_id),
                description="EventBridge: start the training pipeline", tags=tags,
                opts=child_opts(self))
            start_policy = aws.iam.RolePolicy(
                f"{name}-start-policy", role=start_role.id,
                policy=policy_document([statement(
                    "Allow", ["sagemaker:StartPipelineExecution"], [pipeline_arn],
                    sid="StartThisPipelineOnly")]),
                opts=child_opts(self))
            for source in direct:
                aws.cloudwatch.EventTarget(
                    f"{name}-{source.value}-target", rule=rules[source].name,
                    arn=pipeline_arn, role_arn=start_role.arn,
                    sagemaker_pipeline_target=aws.cloudwatch.EventTargetSagemakerPipelineTargetArgs(
                        pipeline_parameter_lists=[]),
                    **deliver,
                    opts=child_opts(self, depends_on=[start_policy]))

        self.gate_function_name = pulumi.Output.from_input(None)
        if gated:
            gate = self._gate(name, args, pipeline_arn, dlq, identity, tags, gated)
            for source in sorted(gated):
                permission = aws.lambda_.Permission(
                    f"{name}-{source.value}-invoke", action="lambda:InvokeFunction",
                    function=gate.name, principal="events.amazonaws.com",
                    source_arn=rules[source].arn, opts=child_opts(self))
                aws.cloudwatch.EventTarget(
                    f"{name}-{source.value}-target", rule=rules[source].name, arn=gate.arn,
                    **deliver,
                    opts=child_opts(self, depends_on=[permission]))
            self.gate_function_name = gate.name

        self.rule_names = pulumi.Output.all(
            **{source.value: rule.name for source, rule in rules.items()})
        self.dead_letter_queue_arn = dlq.arn
        self.register_outputs({
            "rule_names": self.rule_names,
            "dead_letter_queue_arn": self.dead_letter_queue_arn,
            "gate_function_name": self.gate_function_name,
        })

    def _gate(self, name: str, args: RetrainTriggerArgs, pipeline_arn: pulumi.Output[str],
              dlq: aws.sqs.Queue, identity: Any, tags: dict[str, str],
              gated: set[RetrainSource]) -> aws.lambda_.Function:
        """The gate: a Lambda that may list and start this pipeline's executions, keep its
        last start in a table and schedule re-checks of itself."""
        role = function_role(f"{name}-gate-role", "Retraining cooldown gate",
                             identity.account_id, self, tags)
        function_name = f"{name}-gate"
        log_group = function_logs(f"{name}-gate-logs", function_name, self, tags)
        cooled = {source.value for source in gated
                  if args.cooldown_seconds > 0 and source in set(args.cooldown_sources)}
        settle = args.settle_seconds if RetrainSource.NEW_DATA in gated else 0
        statements = [
            statement("Allow", ["sagemaker:ListPipelineExecutions",
                                "sagemaker:StartPipelineExecution"], [pipeline_arn],
                      sid="ListAndStartThisPipeline"),
            statement("Allow", ["logs:CreateLogStream", "logs:PutLogEvents"],
                      [log_group.arn.apply(lambda arn: f"{arn}:*")], sid="WriteOwnLogs"),
            statement("Allow", ["sqs:SendMessage"], [dlq.arn], sid="DeadLetters"),
        ]
        environment: dict[str, pulumi.Input[str]] = {
            "PIPELINE_NAME": args.pipeline_name,
            "PURPOSE": args.purpose,
            "COOLDOWN_SECONDS": str(args.cooldown_seconds),
            "COOLDOWN_SOURCES": ",".join(sorted(cooled)),
            "SETTLE_SECONDS": str(settle),
            "INPUT_DATA_PARAMETER": PipelineParameter.INPUT_DATA_URI.value,
        }
        if cooled or settle:
            statements += self._gate_state(name, function_name, args, dlq, identity, tags,
                                           environment)
        if RetrainSource.DRIFT.value in cooled:
            statements.append(pulumi.Output.all(pipeline_arn, args.drift_alarm_names).apply(
                lambda values: statement(
                    "Allow", ["cloudwatch:DescribeAlarms"],
                    [_arn_in(values[0], "cloudwatch", f"alarm:{alarm}") for alarm in values[1]],
                    sid="ReadDriftAlarms")))
        if args.champion_parameter:
            group_arn = pulumi.Output.all(pipeline_arn, args.model_package_group_name).apply(
                lambda values: _sagemaker_arn(values[0], "model-package",
                                              f"{values[1].lower()}/*"))
            statements += [
                # ListModelPackages has no resource-level permissions.
                statement("Allow", ["sagemaker:ListModelPackages"], ["*"],
                          sid="FindApprovedPackages"),
                statement("Allow", ["sagemaker:DescribeModelPackage"], [group_arn],
                          sid="ReadApprovedPackage"),
            ]
            environment["CHAMPION_PARAMETER"] = args.champion_parameter
            environment["MODEL_PACKAGE_GROUP"] = args.model_package_group_name
        policy = aws.iam.RolePolicy(f"{name}-gate-policy", role=role.id,
                                    policy=policy_document(statements), opts=child_opts(self))
        gate = aws.lambda_.Function(
            f"{name}-gate", name=function_name, runtime=RUNTIME,
            handler=f"{GATE_SOURCE.stem}.handler", role=role.arn,
            code=single_file_code(GATE_SOURCE),
            # No reserved concurrency: the state table's conditional write serialises starts.
            timeout=60, memory_size=128,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
            description=f"{args.purpose}: starts {args.model_name or 'the'} pipeline at most "
                        f"once per {args.cooldown_seconds} s",
            tags=tags, opts=child_opts(self, depends_on=[policy, log_group]))
        if cooled or settle:
            aws.iam.RolePolicy(
                f"{name}-recheck-policy", role=self._recheck_role.id,
                policy=policy_document([
                    statement("Allow", ["lambda:InvokeFunction"], [gate.arn],
                              sid="InvokeTheGate"),
                    statement("Allow", ["sqs:SendMessage"], [dlq.arn], sid="DeadLetters")]),
                opts=child_opts(self))
        return gate

    def _gate_state(self, name: str, function_name: str, args: RetrainTriggerArgs,
                    dlq: aws.sqs.Queue, identity: Any, tags: dict[str, str],
                    environment: dict[str, pulumi.Input[str]]) -> list[dict[str, Any]]:
        """The gate's last-start table and its re-check schedules: the resources, the
        environment that names them, and the gate's statements on them."""
        table = aws.dynamodb.Table(
            f"{name}-gate-state", billing_mode="PAY_PER_REQUEST", hash_key="pipeline",
            attributes=[aws.dynamodb.TableAttributeArgs(name="pipeline", type="S")],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            tags=tags, opts=child_opts(self))
        group = aws.scheduler.ScheduleGroup(f"{name}-rechecks", name=function_name, tags=tags,
                                            opts=child_opts(self))
        self._recheck_role = aws.iam.Role(
            f"{name}-recheck-role",
            assume_role_policy=assume_role_policy("scheduler.amazonaws.com",
                                                  source_account=identity.account_id),
            description="EventBridge Scheduler: invoke the retraining gate for a re-check",
            tags=tags, opts=child_opts(self))
        environment |= {"STATE_TABLE": table.name, "SCHEDULE_GROUP": group.name,
                        "RECHECK_ROLE_ARN": self._recheck_role.arn, "DEAD_LETTER_ARN": dlq.arn}
        schedules = group.arn.apply(
            lambda arn: arn.replace(":schedule-group/", ":schedule/") + "/*")
        return [
            statement("Allow", ["dynamodb:GetItem", "dynamodb:PutItem",
                                "dynamodb:UpdateItem"], [table.arn],
                      sid="ClaimTheStart"),
            statement("Allow", ["scheduler:CreateSchedule"], [schedules],
                      sid="ScheduleRechecks"),
            statement("Allow", ["iam:PassRole"], [self._recheck_role.arn],
                      sid="PassTheRecheckRole",
                      condition={"StringEquals": {"iam:PassedToService":
                                                  "scheduler.amazonaws.com"}}),
        ]


def _arn_in(pipeline_arn: str, service: str, resource: str) -> str:
    """An ARN of ``service`` in the pipeline's partition, region and account."""
    parts = pipeline_arn.split(":")
    partition, region, account = parts[1], parts[3], parts[4]
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def _sagemaker_arn(pipeline_arn: str, kind: str, resource: str) -> str:
    """An ARN of ``kind`` in the pipeline's partition, region and account."""
    prefix = pipeline_arn.split(":pipeline/")[0]
    return f"{prefix}:{kind}/{resource}"


def _validate(name: str, args: RetrainTriggerArgs) -> list[RetrainSource]:
    """Every rule of the arguments, all at once; returns the sources that get a rule."""
    problems = Problems(f"RetrainTrigger '{name}'")
    problems.check(args.pipeline_name is not None, "pipeline_name", "is required", None)
    problems.check(args.pipeline_arn is not None, "pipeline_arn", "is required", None)
    if args.schedule_expression is not None:
        problem = schedule_problem(args.schedule_expression)
        if problem:
            problems.add("schedule_expression", problem, args.schedule_expression)
    problems.check(isinstance(args.raw_prefix, str) and args.raw_prefix.endswith("/")
                   and not args.raw_prefix.startswith("/"), "raw_prefix",
                   "must be a key prefix ending in '/' (not starting with one)", args.raw_prefix)
    known_alarms = args.drift_alarm_names if is_known(args.drift_alarm_names) else []
    for index, alarm in enumerate(known_alarms):
        if is_known(alarm):
            problems.check(isinstance(alarm, str) and 1 <= len(alarm) <= 255,
                           f"drift_alarm_names[{index}]", "must be an alarm name (1-255 chars)",
                           alarm)
    problems.check(isinstance(args.cooldown_seconds, int) and not isinstance(
        args.cooldown_seconds, bool) and 0 <= args.cooldown_seconds <= MAX_COOLDOWN_SECONDS,
        "cooldown_seconds", f"must be an integer between 0 and {MAX_COOLDOWN_SECONDS}",
        args.cooldown_seconds)
    for index, source in enumerate(args.cooldown_sources):
        problems.one_of(f"cooldown_sources[{index}]", source, RetrainSource)
    problems.between("settle_seconds", args.settle_seconds, 0, MAX_SETTLE_SECONDS)
    problems.between("retry_attempts", args.retry_attempts, 0, 185)
    problems.between("max_event_age_seconds", args.max_event_age_seconds, 60, 86400)
    problems.check(not args.champion_parameter or args.model_package_group_name is not None,
                   "champion_parameter", "needs model_package_group_name",
                   args.champion_parameter)
    sources = []
    if args.schedule_expression is not None:
        sources.append(RetrainSource.SCHEDULE)
    if args.bucket_name is not None:
        sources.append(RetrainSource.NEW_DATA)
    if not is_known(args.drift_alarm_names) or args.drift_alarm_names:
        sources.append(RetrainSource.DRIFT)
    problems.check(bool(sources), "sources", "must include at least one of "
                   "schedule_expression, bucket_name, drift_alarm_names", None)
    problems.raise_if_any()
    return sources
