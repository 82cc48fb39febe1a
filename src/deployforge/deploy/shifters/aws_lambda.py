"""Lambda alias shifter: weighted routing between two versions of one function.

Settings (``deploy.shifter``)::

    type: aws_lambda_alias
    target: aws_prod
    function_name: my-fn
    alias: live
    canary_version: "7"        # default: the alias's routed additional version, else $LATEST published
    stable_version: "6"        # default: the alias's current FunctionVersion

The alias keeps ``FunctionVersion`` = stable and routes ``p/100`` to the canary through
``RoutingConfig.AdditionalVersionWeights``. Every ``update_alias`` passes the ``RevisionId`` read
just before, so a concurrent change fails instead of being overwritten. After each change the
alias is read back (``get_alias``) and compared.

Promotion: ``FunctionVersion`` becomes the canary version with no additional weights: the canary
version *is* the stable version from then on, and the next deploy starts from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployforge.deploy.shifters.base import (
    ShifterContext,
    ShifterNotFoundError,
    Weights,
    check_readback,
)


def validate_settings(settings: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("function_name", "alias"):
        if not settings.get(key):
            out.append(f"aws_lambda_alias needs {key}")
    if settings.get("canary_version") is None:
        out.append("aws_lambda_alias needs canary_version (the function version to shift to)")
    return out


class LambdaAliasShifter:
    kind = "aws_lambda_alias"

    def __init__(self, settings: Mapping[str, Any], context: ShifterContext):
        self.settings = dict(settings)
        self.provider = context.provider
        self.function = str(settings["function_name"])
        self.alias = str(settings["alias"])
        self.canary = str(settings["canary_version"])
        self.stable: str | None = str(settings["stable_version"]) if settings.get("stable_version") else None
        self.description = f"Lambda alias {self.function}:{self.alias}"

    @property
    def _client(self) -> Any:
        return self.provider.client("lambda")

    def _guard(self, action: str) -> Any:
        return self.provider._boundary(self.description, action)

    def _get(self) -> dict[str, Any]:
        with self._guard("get_alias"):
            return dict(self._client.get_alias(FunctionName=self.function, Name=self.alias))

    def preflight(self) -> None:
        from deployforge.errors import ProviderError

        try:
            alias = self._get()
        except ProviderError as exc:
            raise ShifterNotFoundError(
                f"{self.description} does not exist ({exc.code or exc.message})",
                hint="check deploy.shifter.function_name and alias",
            ) from None
        if self.stable is None:
            self.stable = str(alias["FunctionVersion"])
        for version in (self.stable, self.canary):
            try:
                with self._guard("get_function"):
                    self._client.get_function(FunctionName=self.function, Qualifier=version)
            except ProviderError:
                raise ShifterNotFoundError(
                    f"{self.description}: function version {version} does not exist",
                    hint="publish the version first (lambda publish-version) or fix canary_version",
                ) from None

    def _weights(self, alias: Mapping[str, Any]) -> Weights:
        routed = dict((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
        primary = str(alias["FunctionVersion"])
        detail = {primary: 1.0 - sum(routed.values()), **{k: float(v) for k, v in routed.items()}}
        canary_share = detail.get(self.canary, 0.0)
        stable_share = detail.get(self.stable or primary, 0.0)
        return Weights(
            stable=round(stable_share * 100),
            canary=round(canary_share * 100),
            detail=detail,
            revision=alias.get("RevisionId"),
        )

    def current(self) -> Weights:
        if self.stable is None:
            self.preflight()
        return self._weights(self._get())

    def _update(self, **kwargs: Any) -> Weights:
        if self.stable is None:
            self.preflight()
        revision = self._get().get("RevisionId")
        with self._guard("update_alias"):
            self._client.update_alias(FunctionName=self.function, Name=self.alias, RevisionId=revision, **kwargs)
        return self._weights(self._get())

    def set_canary_weight(self, percent: int) -> Weights:
        if self.stable is None:
            self.preflight()
        if percent >= 100:
            return self.promote()
        routing = {self.canary: round(percent / 100, 4)} if percent > 0 else {}
        got = self._update(FunctionVersion=str(self.stable), RoutingConfig={"AdditionalVersionWeights": routing})
        return check_readback(self, percent, got)

    def rollback(self) -> Weights:
        return self.set_canary_weight(0)

    def promote(self) -> Weights:
        got = self._update(FunctionVersion=self.canary, RoutingConfig={"AdditionalVersionWeights": {}})
        # after promotion the canary version is the primary: report it as canary 100%
        return check_readback(self, 100, Weights(stable=0, canary=got.canary, detail=got.detail, revision=got.revision))
