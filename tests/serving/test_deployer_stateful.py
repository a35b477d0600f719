"""The deployer over a simulated SageMaker control plane, driven by Hypothesis.

The simulation keeps what the real service and Lambda do to the deployer, in time:

* a fake clock (minutes); endpoints take time: Creating 5, a canary Updating 15, RollingBack
  3, Deleting 1; a "bad" package fails a new endpoint (Failed) or trips the rollback alarms
  of an update (RollingBack, then InService on the old config);
* the endpoint's state changes to InService / Failed are events for the deployer (the
  component's rule), as are approvals; events may arrive duplicated and out of order;
* Lambda's asynchronous invocation: a raising invocation is retried 1 and then 2 minutes
  later, then it goes to the dead-letter queue.

The deployer is the real code (`deployer.handle`), given fake SageMaker, CloudWatch and S3
objects that implement the few calls it makes; each request dict is validated with
botocore's own validator against the service model's input shape, as a real client would.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.handlers import handle_copy_source_param
from botocore.validate import validate_parameters
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mlops_components.functions import deployer
from mlops_components.functions.deployer.config import (
    TAG_PACKAGE_ARN,
    TAG_PACKAGE_VERSION,
)

ACCOUNT, REGION = "123456789012", "us-east-1"
GROUP, ENDPOINT, BUCKET = "churn", "churn-endpoint", "data"
BASELINE = f"s3://{BUCKET}/models/churn/deployed-baseline/"
MINUTE = 60.0
CREATING, UPDATING, ROLLING_BACK, DELETING = 5, 15, 3, 1
"""Minutes each endpoint state lasts."""
RETRY_DELAYS = (1, 2)
"""Lambda's asynchronous retries of a failed invocation, minutes after the previous one."""

_SESSION = botocore.session.get_session()
_MODELS = {name: _SESSION.get_service_model(name) for name in ("sagemaker", "cloudwatch", "s3")}
VALIDATED: Counter[str] = Counter()
EXAMPLES = [0]


def validated(service: str, operation: str, params: dict[str, Any]) -> None:
    """Refuse a request as botocore would, before it leaves the client."""
    validate_parameters(params, _MODELS[service].operation_model(operation).input_shape)
    VALIDATED[f"{service}:{operation}"] += 1


def not_found(what: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException",
                                  "Message": f"Could not find {what}."}}, "Describe")


def refused(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "Call")


class Clock(deployer.Clock):
    """Simulated time; sleeping inside the Lambda lets the control plane move on."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def now(self) -> float:
        return self.plane.minutes * MINUTE

    def sleep(self, seconds: float) -> None:
        self.plane.advance(max(1, round(seconds / MINUTE)))


class Pages:
    def __init__(self, pages: list[dict]) -> None:
        self.pages = pages

    def __iter__(self):
        return iter(self.pages)


class FakeSageMaker:
    """The SageMaker calls the deployer makes, with states that take time."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.models: dict[str, dict] = {}
        self.configs: dict[str, dict] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.endpoint: dict[str, Any] | None = None
        self.deployments: Counter[str] = Counter()
        """CreateEndpoint / UpdateEndpoint calls per endpoint config."""

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"

    # -- endpoint ------------------------------------------------------------------------
    def describe_endpoint(self, **params):
        validated("sagemaker", "DescribeEndpoint", params)
        if self.endpoint is None:
            raise not_found(f"endpoint \"{params['EndpointName']}\"")
        shown = {"EndpointName": ENDPOINT, "EndpointArn": self.arn("endpoint", ENDPOINT),
                 "EndpointConfigName": self.endpoint["config"],
                 "EndpointStatus": self.endpoint["status"]}
        if self.endpoint.get("pending"):
            shown["PendingDeploymentSummary"] = {"EndpointConfigName": self.endpoint["pending"]}
        if self.endpoint.get("reason"):
            shown["FailureReason"] = self.endpoint["reason"]
        return shown

    def create_endpoint(self, **params):
        validated("sagemaker", "CreateEndpoint", params)
        if self.endpoint is not None:
            raise refused("Cannot create already existing endpoint")
        name = params["EndpointConfigName"]
        assert name in self.configs
        self.deployments[name] += 1
        self.endpoint = {"status": "Creating", "config": name, "until": self.plane.minutes
                         + CREATING}
        self.tags[self.arn("endpoint", ENDPOINT)] = {t["Key"]: t["Value"]
                                                      for t in params.get("Tags", [])}
        return {"EndpointArn": self.arn("endpoint", ENDPOINT)}

    def update_endpoint(self, **params):
        validated("sagemaker", "UpdateEndpoint", params)
        if self.endpoint is None or self.endpoint["status"] != "InService":
            status = self.endpoint["status"] if self.endpoint else "absent"
            raise refused(f"Cannot update endpoint in status {status}")
        name = params["EndpointConfigName"]
        assert name in self.configs
        self.deployments[name] += 1
        self.endpoint.update(status="Updating", pending=name,
                             until=self.plane.minutes + UPDATING)
        return {"EndpointArn": self.arn("endpoint", ENDPOINT)}

    def delete_endpoint(self, **params):
        validated("sagemaker", "DeleteEndpoint", params)
        if self.endpoint is None:
            raise not_found("endpoint")
        self.endpoint.update(status="Deleting", until=self.plane.minutes + DELETING)
        return {}

    # -- models, configs, tags, packages ------------------------------------------------
    def create_model(self, **params):
        validated("sagemaker", "CreateModel", params)
        self.models[params["ModelName"]] = params
        return {"ModelArn": self.arn("model", params["ModelName"])}

    def describe_model(self, **params):
        validated("sagemaker", "DescribeModel", params)
        if params["ModelName"] not in self.models:
            raise not_found("model")
        return {"ModelName": params["ModelName"]}

    def create_endpoint_config(self, **params):
        validated("sagemaker", "CreateEndpointConfig", params)
        name = params["EndpointConfigName"]
        self.configs[name] = params
        self.tags[self.arn("endpoint-config", name)] = {t["Key"]: t["Value"]
                                                        for t in params.get("Tags", [])}
        return {"EndpointConfigArn": self.arn("endpoint-config", name)}

    def describe_endpoint_config(self, **params):
        validated("sagemaker", "DescribeEndpointConfig", params)
        name = params["EndpointConfigName"]
        if name not in self.configs:
            raise not_found(f"endpoint configuration \"{name}\"")
        return {"EndpointConfigName": name, "EndpointConfigArn": self.arn("endpoint-config", name),
                "ProductionVariants": self.configs[name]["ProductionVariants"]}

    def add_tags(self, **params):
        validated("sagemaker", "AddTags", params)
        self.tags.setdefault(params["ResourceArn"], {}).update(
            {t["Key"]: t["Value"] for t in params["Tags"]})
        return {"Tags": params["Tags"]}

    def describe_model_package(self, **params):
        validated("sagemaker", "DescribeModelPackage", params)
        version = int(params["ModelPackageName"].rsplit("/", 1)[1])
        package = self.plane.packages[version]
        return {"ModelPackageArn": package["arn"], "ModelApprovalStatus": "Approved",
                "ModelPackageStatus": "Completed", "DriftCheckBaselines": {
                    "ModelDataQuality": {part: {"ContentType": "application/json",
                                                "S3Uri": f"{package['baseline']}/{part}.json"}
                                         for part in ("Statistics", "Constraints")}}}

    def get_paginator(self, operation: str):
        return _Paginator(self, operation)

    # -- time ----------------------------------------------------------------------------
    def tick(self) -> None:
        endpoint = self.endpoint
        if endpoint is None or self.plane.minutes < endpoint.get("until", 0):
            return
        status, bad = endpoint["status"], self.plane.bad_config
        if status == "Creating":
            if bad(endpoint["config"]):
                endpoint.update(status="Failed", reason="the container did not pass /ping")
                self.plane.emit("FAILED")
            else:
                endpoint["status"] = "InService"
                self.plane.went_live(endpoint["config"])
                self.plane.emit("IN_SERVICE")
        elif status == "Updating":
            if bad(endpoint["pending"]):  # the rollback alarms fire during the canary
                endpoint.update(status="RollingBack", until=self.plane.minutes + ROLLING_BACK)
            else:
                endpoint.update(status="InService", config=endpoint.pop("pending"))
                self.plane.went_live(endpoint["config"])
                self.plane.emit("IN_SERVICE")
        elif status == "RollingBack":
            endpoint.pop("pending")
            endpoint["status"] = "InService"
            self.plane.emit("IN_SERVICE")
        elif status == "Deleting":
            self.tags.pop(self.arn("endpoint", ENDPOINT), None)
            self.endpoint = None


class _Paginator:
    def __init__(self, sm: FakeSageMaker, operation: str) -> None:
        self.sm, self.operation = sm, operation

    def paginate(self, **params):
        if self.operation == "list_tags":
            validated("sagemaker", "ListTags", params)
            tags = self.sm.tags.get(params["ResourceArn"], {})
            return Pages([{"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
        assert self.operation == "list_model_packages", self.operation
        validated("sagemaker", "ListModelPackages", params)
        assert params["ModelApprovalStatus"] == "Approved"
        summaries = [{"ModelPackageGroupName": GROUP, "ModelPackageVersion": version,
                      "ModelPackageArn": package["arn"], "ModelPackageStatus": "Completed",
                      "ModelApprovalStatus": "Approved", "CreationTime": version}
                     for version, package in sorted(self.sm.plane.packages.items(),
                                                    reverse=True)
                     if package["listed"]]
        return Pages([{"ModelPackageSummaryList": summaries}])


class FakeCloudWatch:
    def __init__(self) -> None:
        self.failed_deployments = 0.0

    def put_metric_data(self, **params):
        validated("cloudwatch", "PutMetricData", params)
        self.failed_deployments += sum(d["Value"] for d in params["MetricData"])
        return {}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        """key -> the source it was copied from."""

    def copy_object(self, **params):
        source = params["CopySource"]
        handle_copy_source_param(params)  # the client's own step before validation
        validated("s3", "CopyObject", params)
        self.objects[params["Key"]] = f"s3://{source['Bucket']}/{source['Key']}"
        return {}


class ControlPlane:
    """Clock, packages, the endpoint's events, and Lambda's asynchronous invocations."""

    def __init__(self) -> None:
        self.minutes = 0
        self.packages: dict[int, dict[str, Any]] = {}
        self.queue: list[dict[str, Any]] = []
        """Invocations waiting: {"event", "due", "attempt"}."""
        self.dead_letters: list[dict] = []
        self.live_versions: list[int] = []
        self.sm = FakeSageMaker(self)
        self.cloudwatch, self.s3 = FakeCloudWatch(), FakeS3()
        self.clock = Clock(self)
        self.config = deployer.Config.from_env({
            "ENDPOINT_NAME": ENDPOINT, "MODEL_PACKAGE_GROUP": GROUP,
            "EXECUTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/model",
            "ENDPOINT_KIND": "instances", "DEPLOYMENT_STRATEGY": "canary",
            "CAPTURE_S3_URI": f"s3://{BUCKET}/capture", "BASELINE_S3_URI": BASELINE,
            "ALARM_NAMES": f"{ENDPOINT}-5xx-errors,{ENDPOINT}-model-latency"})

    def version_of(self, config_name: str) -> int:
        return int(config_name.rsplit("-v", 1)[1].split("-")[0])

    def bad_config(self, config_name: str) -> bool:
        return self.packages[self.version_of(config_name)]["bad"]

    def went_live(self, config_name: str) -> None:
        self.live_versions.append(self.version_of(config_name))

    def emit(self, status: str) -> None:
        self.enqueue({"version": "0", "source": "aws.sagemaker",
                      "detail-type": "SageMaker Endpoint State Change",
                      "detail": {"EndpointName": ENDPOINT, "EndpointStatus": status}})

    def enqueue(self, event: dict) -> None:
        self.queue.append({"event": event, "due": self.minutes, "attempt": 0})

    def advance(self, minutes: int) -> None:
        for _ in range(minutes):
            self.minutes += 1
            self.sm.tick()

    def due(self) -> list[dict]:
        return [item for item in self.queue if item["due"] <= self.minutes]

    def invoke(self, item: dict) -> None:
        """One asynchronous invocation, as Lambda runs it: retried twice, then dead-lettered."""
        self.queue.remove(item)
        try:
            deployer.handle(item["event"], self.config, sm=self.sm, cloudwatch=self.cloudwatch,
                            s3=self.s3, clock=self.clock)
        except (deployer.DeploymentError, ClientError):
            if item["attempt"] < len(RETRY_DELAYS):
                self.queue.append({**item, "attempt": item["attempt"] + 1,
                                   "due": self.minutes + RETRY_DELAYS[item["attempt"]]})
            else:
                self.dead_letters.append(item["event"])

    def approval(self, version: int) -> dict:
        package = self.packages[version]
        return {"version": "0", "source": "aws.sagemaker",
                "detail-type": "SageMaker Model Package State Change",
                "detail": {"ModelPackageGroupName": GROUP, "ModelPackageVersion": version,
                           "ModelPackageArn": package["arn"], "ModelApprovalStatus": "Approved",
                           "ModelPackageStatus": "Completed"}}

    def settle(self) -> None:
        """Let time pass and deliver everything until nothing is pending or busy."""
        for _ in range(500):
            busy = self.sm.endpoint is not None and self.sm.endpoint["status"] in (
                "Creating", "Updating", "RollingBack", "Deleting")
            if not self.queue and not busy:
                return
            if self.due():
                self.invoke(self.due()[0])
            else:
                self.advance(1)
        raise AssertionError("the simulation did not settle")


class DeployerMachine(RuleBasedStateMachine):
    """Approvals (good or bad packages), duplicates, reordering, time; the real deployer."""

    @initialize()
    def start(self) -> None:
        EXAMPLES[0] += 1
        self.plane = ControlPlane()

    @rule(bad=st.booleans(), listed=st.booleans())
    def approve(self, bad: bool, listed: bool) -> None:
        """A new package is approved (the registry's list may lag behind the event)."""
        version = len(self.plane.packages) + 1
        self.plane.packages[version] = {
            "arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/{version}",
            "bad": bad, "listed": listed,
            "baseline": f"s3://{BUCKET}/models/churn-training/exec-{version}/baseline"}
        self.plane.enqueue(self.plane.approval(version))

    @precondition(lambda self: self.plane.packages)
    @rule(data=st.data(), copies=st.sampled_from([1, 5]))
    def redeliver(self, data, copies: int) -> None:
        """SageMaker sends an approval again, possibly long after a newer one."""
        version = data.draw(st.sampled_from(sorted(self.plane.packages)))
        for _ in range(copies):
            self.plane.enqueue(self.plane.approval(version))

    @rule()
    def registry_catches_up(self) -> None:
        for package in self.plane.packages.values():
            package["listed"] = True

    @precondition(lambda self: self.plane.due())
    @rule(data=st.data())
    def deliver(self, data) -> None:
        """Any due invocation runs next (EventBridge and Lambda keep no order)."""
        due = self.plane.due()
        self.plane.invoke(due[data.draw(st.integers(0, len(due) - 1))])

    @rule(minutes=st.integers(1, 20))
    def wait(self, minutes: int) -> None:
        self.plane.advance(minutes)

    @invariant()
    def nothing_is_dead_lettered(self) -> None:
        assert self.plane.dead_letters == []

    @invariant()
    def every_config_is_deployed_at_most_once(self) -> None:
        assert all(count == 1 for count in self.plane.sm.deployments.values()), \
            self.plane.sm.deployments

    @invariant()
    def an_older_package_never_replaces_a_newer_one(self) -> None:
        versions = self.plane.live_versions
        assert all(a < b for a, b in itertools.pairwise(versions)), versions

    def teardown(self) -> None:
        plane = getattr(self, "plane", None)
        if plane is None:
            return
        for package in plane.packages.values():  # the registry's list is eventually complete
            package["listed"] = True
        plane.settle()
        self.nothing_is_dead_lettered()
        self.every_config_is_deployed_at_most_once()
        self.an_older_package_never_replaces_a_newer_one()
        good = [v for v, p in plane.packages.items() if not p["bad"]]
        endpoint = plane.sm.endpoint
        if not good:
            # every package failed: the failed endpoint was deleted, nothing else to deploy
            assert endpoint is None
            return
        newest = max(good)
        assert endpoint is not None and endpoint["status"] == "InService"
        assert plane.version_of(endpoint["config"]) == newest, (endpoint, plane.packages)
        # the live tags and the monitor's baseline name the model really serving
        tags = plane.sm.tags[plane.sm.arn("endpoint", ENDPOINT)]
        assert tags[TAG_PACKAGE_ARN] == plane.packages[newest]["arn"]
        assert tags[TAG_PACKAGE_VERSION] == str(newest)
        baseline = plane.packages[newest]["baseline"]
        assert plane.s3.objects["models/churn/deployed-baseline/Statistics.json"] == \
            f"{baseline}/Statistics.json"
        # each bad package that was tried is counted once in the alarm's metric
        tried_bad = {v for v, p in plane.packages.items() if p["bad"] and any(
            plane.version_of(name) == v for name in plane.sm.deployments)}
        assert plane.cloudwatch.failed_deployments == len(tried_bad)


@pytest.mark.parametrize("first_bad", [False, True])
def test_an_approval_deferred_while_busy_deploys_though_the_registry_list_lags(first_bad):
    """Hypothesis's finding, replayed: version 1 is deployed from its event (the list does not
    show it yet), version 2's event finds the endpoint Creating and is deferred, and the state
    change that ends it lists only what the registry shows, which lags: version 2 was never
    deployed. The deferred approval is remembered on the endpoint and deployed then."""
    machine = DeployerMachine()
    machine.start()
    plane = machine.plane

    def deliver_first_due():
        plane.invoke(plane.due()[0])

    machine.approve(bad=first_bad, listed=False)
    deliver_first_due()
    machine.approve(bad=False, listed=False)
    deliver_first_due()
    machine.wait(minutes=5)
    deliver_first_due()
    machine.teardown()  # asserts the newest good version serves, each config deployed once


DeployerMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestDeployerMachine = DeployerMachine.TestCase
TestDeployerMachine.pytestmark = [pytest.mark.slow]  # a sweep: the full suite runs it


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print(f"\nhypothesis: {EXAMPLES[0]} sequences; {sum(VALIDATED.values())} requests "
          f"validated by botocore: {dict(sorted(VALIDATED.items()))}")
