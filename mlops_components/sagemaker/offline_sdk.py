"""Use the SageMaker Python SDK v3 offline: no AWS call, no network, no trace left behind.

The SDK is built for a notebook with credentials: importing it creates a boto3 client (a
region is required), sessions load user defaults (possibly from S3), roles are validated with
``iam:SimulatePrincipalPolicy``, a default bucket is looked up or created, and telemetry is
sent from background threads. The pipeline builder needs none of that. Everything that keeps
the SDK quiet lives here, and only here:

- :func:`offline_sdk` - a context in which the SDK may be imported and used. It sets a region,
  dummy credentials, ``SAGEMAKER_VALIDATE_ROLE=false``, IMDS off and empty SDK-default/AWS
  config files; it hides the caller's profile, session token and endpoint overrides; it swaps
  out ``boto3.DEFAULT_SESSION``; and it restores every one of them on exit. Nothing is left
  in ``os.environ`` after a build. The root logger that the SDK configures on import, SDK log
  chatter and SDK warnings are contained too.
- :func:`pipeline_session` - a ``PipelineSession`` whose ``default_bucket()`` is the stack's
  bucket (never HeadBucket/CreateBucket) and whose SDK defaults are fixed in code (telemetry
  opted out, no user defaults merged in, so the definition does not depend on the machine).
- :func:`sklearn_image_uri` - the scikit-learn container image from the SDK's offline table.

The SDK is imported lazily, inside :func:`offline_sdk`, so ``import mlops_components`` stays
fast. The context holds a process-wide lock: environment variables are process-global, so two
builds never overlap, and another thread reading ``os.environ`` during a build (~1 s) sees the
offline values.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

#: scikit-learn container version the jobs and the serving container run.
SKLEARN_FRAMEWORK_VERSION = "1.9-0"

#: Credentials that satisfy boto3's client construction; they never sign a request.
_DUMMY_ACCESS_KEY = "AKIAOFFLINEDEFINITION"
_DUMMY_SECRET_KEY = "offline-pipeline-definition-build"

#: Variables that would send botocore to a profile, a credential process, a container or
#: web-identity credential endpoint, or a custom endpoint. Hidden during a build.
_HIDDEN_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SAGEMAKER",
    "AWS_ENDPOINT_URL_STS",
)

#: SDK defaults the sessions use instead of ~/.config/sagemaker/config.yaml: telemetry off,
#: nothing else, so user defaults (KMS keys, subnets, tags) never leak into a definition.
SDK_DEFAULTS: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}

#: Loggers whose INFO/WARNING chatter ("Popping out 'TrainingJobName'...", "Found credentials
#: in environment variables") is expected during an offline build.
_CHATTY_LOGGERS = ("sagemaker", "botocore.credentials")

_LOCK = threading.RLock()
_imported = False
_defaults_validated = False


def _offline_variables(region: str) -> dict[str, str]:
    return {
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": _DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": _DUMMY_SECRET_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "SAGEMAKER_VALIDATE_ROLE": "false",
        "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": os.devnull,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": os.devnull,
    }


@contextlib.contextmanager
def _patched_environment(region: str) -> Iterator[None]:
    offline = _offline_variables(region)
    saved = {name: os.environ.get(name) for name in (*offline, *_HIDDEN_VARIABLES)}
    try:
        for name in _HIDDEN_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(offline)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _contained_logging() -> Iterator[None]:
    """Keep the root logger as the caller configured it and the SDK's records to itself."""
    root = logging.getLogger()
    root_handlers, root_level = list(root.handlers), root.level
    chatty = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    propagation = [logger.propagate for logger in chatty]
    try:
        for logger in chatty:
            logger.propagate = False
        yield
    finally:
        for logger, propagate in zip(chatty, propagation, strict=True):
            logger.propagate = propagate
        root.handlers[:] = root_handlers
        root.setLevel(root_level)


@contextlib.contextmanager
def _default_boto3_session_swapped() -> Iterator[None]:
    """Import-time ``boto3.client(...)`` calls get a session built from the offline env."""
    import boto3

    saved = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = saved


def _import_sdk() -> None:
    global _imported
    if _imported:
        return
    # The modules the builder uses; importing them once here keeps the first build's
    # import cost out of the build timing and inside the offline context.
    import sagemaker.core.image_uris  # noqa: F401
    import sagemaker.core.processing  # noqa: F401
    import sagemaker.mlops.workflow  # noqa: F401
    import sagemaker.serve.model_builder  # noqa: F401
    import sagemaker.train.model_trainer  # noqa: F401
    import sagemaker.train.tuner  # noqa: F401

    _imported = True


@contextlib.contextmanager
def _sdk_defaults_validated_once() -> Iterator[None]:
    """Skip the SDK's re-validation of :data:`SDK_DEFAULTS` on every config lookup.

    The SDK validates a session's defaults against its JSON schema (including the schema
    itself) on each of the ~60 lookups a definition makes: ~0.1 s each, most of the build
    time. Our defaults are validated once, on first use; any other config still goes through
    the SDK's validation.
    """
    from sagemaker.core.config import config_manager
    from sagemaker.core.helper import session_helper

    global _defaults_validated
    original = config_manager.SageMakerConfig.validate_sagemaker_config
    session_original = session_helper.validate_sagemaker_config
    if not _defaults_validated:
        original(SDK_DEFAULTS)
        _defaults_validated = True

    def validate(sagemaker_config: dict | None = None) -> None:
        if sagemaker_config != SDK_DEFAULTS:
            original(sagemaker_config)

    config_manager.SageMakerConfig.validate_sagemaker_config = staticmethod(validate)
    session_helper.validate_sagemaker_config = validate
    try:
        yield
    finally:
        config_manager.SageMakerConfig.validate_sagemaker_config = staticmethod(original)
        session_helper.validate_sagemaker_config = session_original


class _LocalClientName:
    """Stands in for ``LocalSagemakerClient`` where the SDK only wants a method's name."""

    def create_processing_job(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("local mode is not used by the pipeline builder")


@contextlib.contextmanager
def _no_throwaway_local_sessions() -> Iterator[None]:
    """Keep ``ProcessingStep`` from building a local-mode session per step.

    ``ProcessingStep.__init__`` instantiates ``LocalSagemakerClient()`` only to read the name
    of its ``create_processing_job`` method; that builds a fresh boto3 session and reads the
    user's local-mode config (~0.4 s per processing step).
    """
    from sagemaker.mlops.workflow import steps

    original = steps.LocalSagemakerClient
    steps.LocalSagemakerClient = _LocalClientName
    try:
        yield
    finally:
        steps.LocalSagemakerClient = original


@contextlib.contextmanager
def offline_sdk(region: str) -> Iterator[None]:
    """A context in which the SageMaker SDK can be imported and used without any AWS call.

    Everything it changes (environment variables, ``boto3.DEFAULT_SESSION``, the root logger,
    SDK logger propagation, warning filters) is restored on exit, even on error.
    """
    with _LOCK, _patched_environment(region), _default_boto3_session_swapped(), \
            _contained_logging(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _import_sdk()
        with _sdk_defaults_validated_once(), _no_throwaway_local_sessions():
            yield


@functools.cache
def _boto_session(region: str) -> Any:
    """One boto3 session per region with dummy credentials; reused so its loaders stay warm."""
    import boto3

    return boto3.Session(
        region_name=region,
        aws_access_key_id=_DUMMY_ACCESS_KEY,
        aws_secret_access_key=_DUMMY_SECRET_KEY,
    )


def pipeline_session(bucket: str, region: str) -> Any:
    """A ``PipelineSession`` for ``bucket`` in ``region`` that never calls AWS.

    Call inside :func:`offline_sdk`. ``default_bucket()`` returns ``bucket`` (the SDK would
    otherwise look up or create ``sagemaker-<region>-<account>``), the boto3 session has a
    fixed region and dummy credentials, and the SDK defaults are :data:`SDK_DEFAULTS`.
    Sessions are cached per bucket and region (each builds six boto3 clients, ~0.15 s);
    builds are serialized by :func:`offline_sdk`'s lock and the captured step context is
    cleared on every call, so no state crosses from one build to the next.
    """
    session = _cached_pipeline_session(bucket, region)
    session.context = None
    return session


@functools.cache
def _cached_pipeline_session(bucket: str, region: str) -> Any:
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    class StackPipelineSession(PipelineSession):
        """PipelineSession bound to the stack's bucket."""

        def default_bucket(self) -> str:
            return bucket

    return StackPipelineSession(
        boto_session=_boto_session(region),
        default_bucket=bucket,
        sagemaker_config=copy.deepcopy(SDK_DEFAULTS),
    )


@functools.cache
def sklearn_image_uri(region: str, version: str = SKLEARN_FRAMEWORK_VERSION) -> str:
    """The scikit-learn container image for ``region``, from the SDK's bundled table.

    Call inside :func:`offline_sdk`. Raises ``ValueError`` if the SDK does not know the
    region or the version. Training, processing and inference share one image (the
    training and inference scopes of the table resolve to the same repository and tag).
    """
    from sagemaker.core import image_uris

    return image_uris.retrieve(
        framework="sklearn",
        region=region,
        version=version,
        py_version="py3",
        instance_type="ml.m5.xlarge",
        image_scope="training",
    )


def image_and_session(region: str, bucket: str, owner: str) -> tuple[str, Any]:
    """The scikit-learn image for ``region`` and a session for ``bucket``; call inside
    :func:`offline_sdk`. A region without the image is a ValidationError naming ``owner``."""
    from mlops_components.validation import Problems

    try:
        image_uri = sklearn_image_uri(region)
    except ValueError as error:
        problems = Problems(owner)
        problems.add("region", "must be a region with the SageMaker scikit-learn "
                     f"{SKLEARN_FRAMEWORK_VERSION} image ({error})", region)
        problems.raise_if_any()
    return image_uri, pipeline_session(bucket, region)
