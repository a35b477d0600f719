"""The offline plan: run a Pulumi program under Pulumi's own mock runtime and record it.

No Pulumi CLI, engine or cloud is involved: ``pulumi.runtime.set_mocks`` replaces the engine
with an in-process monitor. Every resource the program registers is recorded with its type,
name, parent and fully resolved inputs; the computed attributes a real provider would return
(``arn``, auto-generated names) are filled in the shape AWS uses, so programs that build
ARNs and policies from them evaluate exactly as they would under ``pulumi up``.
The unit tests install the same mocks, so what the tests check is what ``mlops preview`` shows.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from mlops_components.sagemaker.requirements import OFFLINE_PLAN_ENV
from mlops_components.validation import ValidationError

MOCK_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
#: The program file of a Pulumi Python project.
PROGRAM_FILE = "__main__.py"

#: The property that holds a resource's physical name, where Pulumi would auto-name it.
_NAME_PROPERTIES = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:sagemaker/pipeline:Pipeline": "pipelineName",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "modelPackageGroupName",
}
_GLOBAL_SERVICES = {"iam"}


@dataclass
class RecordedResource:
    """One registered resource as the plan shows it."""

    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    dependencies: list[str] = field(default_factory=list)
    """URNs this resource waits for (``depends_on`` and inputs from other resources)."""
    retain_on_delete: bool = False
    """Whether `pulumi destroy` (or a replacement) leaves the cloud resource in place."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input property, the URNs its value came from (a bucket's ``id`` in ``bucket``)."""


@dataclass
class Plan:
    """Everything a program would create, and its stack outputs."""

    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        resources = [{key: value for key, value in asdict(resource).items()
                      if key in ("urn", "type", "name", "parent", "inputs")}
                     for resource in self.resources]
        return {"stack": self.stack, "resources": resources, "outputs": self.outputs}

    def of_type(self, type_token: str, owner_type: str | None = None) -> list[RecordedResource]:
        """Resources of ``type_token``; with ``owner_type``, only those whose parent is a
        component of that type (``mlops:index:ModelMonitor``...)."""
        return [resource for resource in self.resources if resource.type == type_token
                and (owner_type is None or _parent_type(resource).endswith(owner_type))]


def _parent_type(resource: RecordedResource) -> str:
    """The type chain in the parent's URN (``urn:pulumi:stack::project::types::name``)."""
    parts = (resource.parent or "").split("::")
    return parts[-2] if len(parts) >= 2 else ""


def _physical_name(type_token: str, name: str, urn: str) -> str:
    """A Pulumi-style auto-name: the logical name plus a stable random-looking suffix."""
    suffix = hashlib.sha256(urn.encode()).hexdigest()[:7]
    physical = f"{name}-{suffix}"
    return physical.lower() if type_token == "aws:s3/bucket:Bucket" else physical


def _arn(type_token: str, physical_name: str, region: str, account: str) -> str:
    service = type_token.split(":")[1].split("/")[0].lower()
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", type_token.rsplit(":", 1)[1]).lower()
    if service == "s3" and kind == "bucket":
        return f"arn:aws:s3:::{physical_name}"
    if service in _GLOBAL_SERVICES:
        return f"arn:aws:{service}::{account}:{kind}/{physical_name}"
    if service == "lambda" and kind == "function":  # Lambda's ARNs use ':' before the name
        return f"arn:aws:lambda:{region}:{account}:function:{physical_name}"
    return f"arn:aws:{service}:{region}:{account}:{kind}/{physical_name}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that answer like AWS would: ids, auto-names and ARNs, caller and region."""

    def __init__(self, region: str = DEFAULT_REGION, account_id: str = MOCK_ACCOUNT_ID):
        self.region = region
        self.account_id = account_id

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        urn = f"{args.typ}::{args.name}"
        name_property = _NAME_PROPERTIES.get(args.typ, "name")
        if not state.get(name_property):
            state[name_property] = _physical_name(args.typ, args.name, urn)
        physical = state[name_property]
        state.setdefault("arn", _arn(args.typ, physical, self.region, self.account_id))
        if args.typ == "aws:sqs/queue:Queue":
            state.setdefault("url", f"https://sqs.{self.region}.amazonaws.com/"
                                    f"{self.account_id}/{physical}")
        return f"{physical}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account_id, "userId": "AIDAMOCK",
                    "arn": f"arn:aws:iam::{self.account_id}:user/mock"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        raise NotImplementedError(f"mlops preview has no mock for the call {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping each registration's parent and resolved inputs."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            self.recorded.append(RecordedResource(
                urn=response.urn, type=request.type, name=request.name,
                parent=request.parent or None, inputs=to_plain(inputs),
                custom=bool(request.custom), dependencies=sorted(request.dependencies),
                retain_on_delete=bool(request.retainOnDelete),
                property_dependencies={
                    key: sorted(value.urns)
                    for key, value in request.propertyDependencies.items() if value.urns}))
        return response


def to_plain(value: Any) -> Any:
    """Resolved inputs as plain JSON values (secrets unwrapped, resources by URN)."""
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, pulumi.Resource):
        return {"resource": type(value).__name__}
    if isinstance(value, pulumi.FileAsset):
        return {"asset": {"path": str(value.path)}}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": {"text": value.text}}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: to_plain(item) for name, item in sorted(value.assets.items())}}
    return str(value)


@contextmanager
def mocked_runtime(project: str, stack: str, config: Mapping[str, str] | None = None,
                   region: str | None = None) -> Iterator[RecordingMonitor]:
    """Install recording mocks (and config) as the Pulumi runtime for the enclosed block."""
    config = dict(config or {})
    region = region or config.get("aws:region") or DEFAULT_REGION
    mocks = RecordingMocks(region=region)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(config)
    previous_offline = os.environ.get(OFFLINE_PLAN_ENV)
    os.environ[OFFLINE_PLAN_ENV] = "1"  # components skip deploy-time downloads
    _forget_root_stack()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False,
                             monitor=monitor)
    try:
        with _no_source_positions(), _fewer_gc_passes():
            yield monitor
    finally:
        pulumi.runtime.set_all_config({})
        _forget_root_stack()
        if previous_offline is None:
            os.environ.pop(OFFLINE_PLAN_ENV, None)
        else:
            os.environ[OFFLINE_PLAN_ENV] = previous_offline


@contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Collect garbage less often while a plan runs: a third of a plan's CPU went to the GC.

    Each registration allocates dozens of futures and tasks, so the default thresholds run a
    full collection again and again, each walking every object the (large) provider modules
    left on the heap. Freezing what exists before the plan and raising the thresholds (public
    ``gc`` API) cuts a 20-model plan's CPU by about 30%; both are restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def _no_source_positions() -> Iterator[None]:
    """Register resources without the stack trace Pulumi captures for each one.

    ``pulumi.runtime.resource._get_stack_trace`` extracts the whole Python stack, with source
    lines, at every registration (~5% of a plan's CPU) only to send the engine each resource's
    source position; the mock monitor ignores it, and an empty trace is a value Pulumi itself
    sends when it finds no user frame. The second private Pulumi API here (pulumi 3.272): if a
    release drops the function, nothing is replaced and plans are only slower.
    """
    from pulumi.runtime import resource as runtime_resource
    from pulumi.runtime.proto import source_pb2

    original = getattr(runtime_resource, "_get_stack_trace", None)
    if original is None:
        yield
        return
    runtime_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = original


def _forget_root_stack() -> None:
    """Let the next ``set_mocks`` create a fresh root Stack (it reuses an existing one).

    A private Pulumi API (the other: :func:`_no_source_positions`): there is no public way to
    drop the root resource between two programs run in one process (checked against pulumi 3.272).
    """
    from pulumi.runtime import settings

    settings.set_root_resource(None)


def evaluate(program: Callable[[], Any], *, project: str, stack: str,
             config: Mapping[str, str] | None = None) -> Plan:
    """Run ``program`` (code that creates resources and exports outputs) under the mocks.

    Returns only after every registration and output has settled, so the plan is complete;
    an exception raised by the program (a validation error, say) propagates unchanged.
    """
    with mocked_runtime(project, stack, config) as monitor:
        outputs: dict[str, Any] = {}

        @pulumi.runtime.test
        def run_and_settle() -> pulumi.Output[Any]:
            # pulumi.runtime.test runs this under the mocks and waits for every registration
            # and for the Output returned here: the stack's exports, fully resolved.
            program()
            exports = dict(pulumi.runtime.get_root_resource().outputs)
            return pulumi.Output.from_input(exports).apply(
                lambda resolved: outputs.update(to_plain(resolved or {})))

        try:
            run_and_settle()
        except Exception as error:
            # A rule checked while an Output resolves reaches us wrapped by Pulumi
            # ("While processing input ..."); surface the validation error itself.
            cause: BaseException | None = error
            seen: set[int] = set()
            while cause is not None and not isinstance(cause, ValidationError) \
                    and id(cause) not in seen:  # a chain may loop back on itself
                seen.add(id(cause))
                cause = cause.__cause__ or cause.__context__
            if not isinstance(cause, ValidationError):
                cause = None
            close_event_loop()
            if cause is not None:
                raise cause from None
            raise
    return Plan(stack=stack, resources=list(monitor.recorded), outputs=outputs)


def close_event_loop() -> None:
    """Replace the loop a failed evaluation leaves behind with a fresh one."""
    import asyncio
    import contextlib

    with contextlib.suppress(Exception):
        loop = asyncio.get_event_loop()
        if not loop.is_running() and not loop.is_closed():
            loop.close()
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(program_dir: Path, project: str, stack: str,
                config: Mapping[str, str]) -> Plan:
    """Evaluate ``program_dir/__main__.py`` under the mocks and return its plan."""
    program = Path(program_dir).resolve()
    with _program_context(program):
        return evaluate(
            lambda: runpy.run_path(str(program / PROGRAM_FILE), run_name="__main__"),
            project=project, stack=stack, config=config)


@contextmanager
def _program_context(program: Path) -> Iterator[None]:
    """Run as the Pulumi language host does: cwd is the project, which is importable."""
    previous_cwd = os.getcwd()
    sys.path.insert(0, str(program))
    os.chdir(program)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        sys.path.remove(str(program))


def plan_stack(project_dir: Path, stack: str,
               overrides: Mapping[str, str] | None = None) -> Plan:
    """Validate a stack's config (plus ``overrides`` of project keys), then plan it offline."""
    from mlops_components.config import parse_config
    from mlops_components.project import ProjectError, load_project

    project = load_project(project_dir)
    if not (project.directory / PROGRAM_FILE).is_file():
        raise ProjectError(f"no {PROGRAM_FILE} in {project.directory}: a Pulumi Python "
                           "project needs its program there")
    config = project.stack_config(stack)
    config.update({f"{project.name}:{key}": value for key, value in (overrides or {}).items()})
    parse_config(config, project=project.name)
    return run_program(project.directory, project.name, stack, config)
