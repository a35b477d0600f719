"""The processing cluster: which instance of a multi-host job this container is.

SageMaker describes the cluster in resourceconfig.json; outside SageMaker the job is one host.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from training.contract import RESOURCE_CONFIG_ENV, RESOURCE_CONFIG_FILE
from training.jsonio import read_json

_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Cluster:
    """The instances of one processing job and which of them this container is.

    Host names end up in output paths (`train/train-algo-2.csv`), so they must be plain names.
    """

    current_host: str
    hosts: tuple[str, ...]

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.hosts:
            problems.append("hosts must list at least one host (got [])")
        bad = [h for h in (self.current_host, *self.hosts) if not _HOST_NAME.fullmatch(str(h))]
        if bad:
            problems.append(f"host names must match {_HOST_NAME.pattern} (got {bad})")
        repeated = sorted({h for h in self.hosts if self.hosts.count(h) > 1})
        if repeated:
            problems.append(f"hosts lists {repeated} more than once")
        if self.hosts and self.current_host not in self.hosts:
            problems.append(
                f"current_host {self.current_host!r} is not one of the hosts {list(self.hosts)}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def primary(self) -> str:
        """The host that writes the job-wide outputs (SageMaker's first host, algo-1)."""
        return self.hosts[0]

    @property
    def is_primary(self) -> bool:
        return self.current_host == self.primary

    @property
    def is_multi_host(self) -> bool:
        return len(self.hosts) > 1


SINGLE_HOST = Cluster("algo-1", ("algo-1",))
"""A run outside SageMaker, or a job with one instance."""


def load_cluster(path: str | Path | None = None) -> Cluster:
    """This container's place in the processing job, from SageMaker's resourceconfig.json.

    The file is `path`, else $SM_RESOURCE_CONFIG, else /opt/ml/config/resourceconfig.json. A
    missing default file means a run outside SageMaker: a single host. A file named explicitly
    (argument or variable) must exist, so a misconfigured runner fails instead of letting every
    instance write the same output names.
    """
    explicit = path or os.environ.get(RESOURCE_CONFIG_ENV) or None
    config = Path(explicit or RESOURCE_CONFIG_FILE)
    if not config.is_file():
        if explicit:
            raise FileNotFoundError(
                f"resource config {config} not found (named by {RESOURCE_CONFIG_ENV} or argument)"
            )
        return SINGLE_HOST
    try:
        data = read_json(config)
        missing = [key for key in ("current_host", "hosts") if key not in data]
        if missing:
            raise ValueError(f"missing key(s) {missing}")
        if not isinstance(data["hosts"], list):
            raise ValueError(f"hosts must be a list (got {data['hosts']!r})")
        return Cluster(str(data["current_host"]), tuple(str(h) for h in data["hosts"]))
    except (ValueError, TypeError) as error:
        raise ValueError(f"resource config {config} is not a valid cluster: {error}") from error

