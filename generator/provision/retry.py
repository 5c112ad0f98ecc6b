"""Errors every backend raises, and the retry loop: 5xx and time-outs are retried with back-off, the rest are not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from generator.provision.config import RetryPolicy

T = TypeVar("T")


class ProvisionError(Exception):
    """A target refused or failed an operation; the message says which and what to do."""


class TransientError(ProvisionError):
    """5xx, time-out or refused connection: worth retrying."""


class AuthError(ProvisionError):
    """401/403: retrying will not help; the message names the variable to fix."""


class WrongTargetError(ProvisionError):
    """The target does not look like the one we provisioned (wrong URL or tenant): abort before writing."""


class ConflictError(ProvisionError):
    """The object changed under us (Grafana 412) and could not be reconciled."""


def with_retries(what: str, operation: Callable[[], T], policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `operation`; on TransientError wait and try again, up to policy.attempts in all."""
    delays = list(policy.delays())
    for attempt in range(policy.attempts):
        try:
            return operation()
        except TransientError as exc:
            if attempt == len(delays):
                raise TransientError(f"{what}: still failing after {policy.attempts} attempt(s): {exc}") from exc
            sleep(delays[attempt])
    raise AssertionError("unreachable")  # the loop returns or raises


def http(session: requests.Session, method: str, url: str, *, what: str, auth_vars: str, timeout: float,
         **kwargs: Any) -> requests.Response:
    """One HTTP request mapped onto the error classes. Bodies of errors are cut short: they may be large."""
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise TransientError(f"{what}: timed out after {timeout:g}s") from exc
    except requests.ConnectionError as exc:
        raise TransientError(f"{what}: cannot connect ({type(exc).__name__})") from exc
    if response.status_code >= 500:
        raise TransientError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:200]}")
    if response.status_code in (401, 403):
        raise AuthError(f"{what}: HTTP {response.status_code} {response.reason}: check {auth_vars}")
    return response


class ApiBackend:
    """What every backend that talks to a server's API keeps: its target, the time-out, the retry policy, and
    whether hand edits may be overwritten (`--force`)."""

    def __init__(self, target: Any, timeout: float, policy: RetryPolicy, force: bool = False):
        self.target = target
        self.timeout = timeout
        self.policy = policy
        self.force = force
