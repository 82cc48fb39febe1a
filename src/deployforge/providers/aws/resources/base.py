"""What every AWS resource handler shares: the context it calls AWS through, tags, cleanup."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from deployforge.errors import ProviderError
from deployforge.providers.base import LiveResource, ResourceSpec, TypeInfo


class AwsContext(Protocol):
    """The slice of ``AwsProvider`` a handler uses."""

    @property
    def region(self) -> str: ...

    @property
    def partition(self) -> str: ...

    def client(self, service: str) -> Any: ...

    def page_size(self, maximum: int) -> int: ...


def tags_from_aws(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """``[{"Key", "Value"}]`` -> ``{key: value}``, without AWS's own ``aws:`` tags (nobody may set those)."""
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags or () if not str(tag["Key"]).startswith("aws:")}


def tags_to_aws(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": str(value)} for key, value in sorted(tags.items())]


def tag_changes(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(tags to set, keys to remove) that turn ``current`` into ``desired``."""
    to_set = {k: str(v) for k, v in desired.items() if current.get(k) != str(v)}
    to_remove = sorted(k for k in current if k not in desired)
    return to_set, to_remove


def converge_ec2_tags(ec2: Any, resource_id: str, current: Mapping[str, str], desired: Mapping[str, str]) -> None:
    """Set and remove EC2 tags so ``resource_id`` carries exactly ``desired`` (``aws:`` tags aside)."""
    to_set, to_remove = tag_changes(current, desired)
    if to_set:
        ec2.create_tags(Resources=[resource_id], Tags=tags_to_aws(to_set))
    if to_remove:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": key} for key in to_remove])


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + max(1, size)]


def string_list(values: Iterable[Any] | None) -> list[str]:
    """A declared list of strings, in the declared order (AWS keeps the order it is given)."""
    return [str(v) for v in values or ()]


@contextmanager
def undo_on_failure(undo: Callable[[], None], what: str) -> Iterator[None]:
    """If the block fails, run ``undo`` (removing what a create made) and re-raise the failure.

    A failing ``undo`` is recorded as a note on the original exception, which the error boundary
    puts into the message, so the user learns what was left behind.
    """
    try:
        yield
    except BaseException as exc:
        try:
            undo()
        except Exception as undo_exc:  # report the original failure, mention the leftover
            exc.add_note(f"removing the partly created {what} also failed ({undo_exc}): delete it by hand")
        raise


class ResourceHandler(ABC):
    """One AWS resource type behind the provider contract (see ``deployforge.providers.base``).

    Handlers call boto3 freely; the provider translates their exceptions at its boundary.
    """

    info: TypeInfo
    # Read-after-write: AWS APIs are eventually consistent, a just-created object may be invisible.
    settle_attempts = 6
    settle_delay = 0.25

    def __init__(self, aws: AwsContext):
        self.aws = aws

    @property
    def type(self) -> str:
        return self.info.type

    def key(self, spec: ResourceSpec) -> str:
        """The natural key of ``spec``: its natural-key property, or the resource's own name."""
        return str(spec.properties.get(self.info.natural_key) or spec.name)

    def normalize(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        """``properties`` in the canonical shapes ``read`` reports (pure unless stated)."""
        return dict(properties)

    @abstractmethod
    def read(self, resource_id: str) -> LiveResource | None: ...

    # How many objects one call of the type's describe API can read (0: it reads one at a time,
    # e.g. S3 buckets; the planner then reads those in parallel).
    batch_size = 0

    def read_many(self, resource_ids: list[str]) -> dict[str, LiveResource | None]:
        """Several objects by id, in as few calls as the API allows (None for those that are gone)."""
        return {resource_id: self.read(resource_id) for resource_id in resource_ids}

    def lookup(self, spec: ResourceSpec) -> LiveResource | None:
        return self.read(self.key(spec))

    @abstractmethod
    def create(self, spec: ResourceSpec) -> LiveResource: ...

    @abstractmethod
    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource: ...

    @abstractmethod
    def delete(self, resource_id: str) -> None: ...

    @abstractmethod
    def list(self) -> Iterator[LiveResource]: ...

    # helpers for subclasses ---------------------------------------------------------------

    def check_changes(self, spec: ResourceSpec, changes: frozenset[str], updatable: Iterable[str]) -> None:
        """Refuse an in-place update of a force-new or unknown attribute."""
        replace = changes & self.info.force_new
        if replace:
            raise ProviderError(
                f"{spec.address}: {', '.join(sorted(replace))} cannot change in place (the object must be replaced)",
                resource=spec.address,
                code="ForceNew",
            )
        unknown = changes - set(updatable) - {"tags"}
        if unknown:
            raise ProviderError(
                f"{spec.address}: {self.type} has no updatable attribute {', '.join(sorted(unknown))}",
                resource=spec.address,
                code="UnknownAttribute",
            )

    def read_settled(self, resource_id: str, address: str) -> LiveResource:
        """Read an object this provider just wrote, waiting out eventual consistency."""
        delay = self.settle_delay
        for attempt in range(self.settle_attempts):
            live = self.read(resource_id)
            if live is not None:
                return live
            if attempt + 1 < self.settle_attempts:
                time.sleep(delay)
                delay *= 2
        raise ProviderError(
            f"{address}: {resource_id} was written but AWS does not show it",
            hint="AWS may be slow to show new objects; run plan again to see whether it exists",
            resource=address,
            code="NotVisible",
        )

    def live(self, resource_id: str, attributes: dict[str, Any], outputs: dict[str, Any]) -> LiveResource:
        return LiveResource(
            type=self.type, id=resource_id, attributes=attributes, outputs={"id": resource_id, **outputs}
        )
