"""ALB listener (or listener rule) shifter: weighted ``ForwardConfig`` over two target groups.

Settings (``deploy.shifter``)::

    type: aws_alb_listener
    target: aws_prod
    listener_arn: arn:...            # or: load_balancer: NAME + port: 80
    rule_arn: arn:...                # optional: shift a listener rule instead of the default action
    stable_target_group: NAME|ARN
    canary_target_group: NAME|ARN

Weights are set with ``modify_listener`` (``modify_rule`` for a rule) as stable ``100-p`` /
canary ``p`` and read back with ``describe_listeners`` (``describe_rules``).

Promotion: the canary target group takes 100% and the forward action is rewritten to that
target group alone. The shifter records the swap, so the *next* deploy names the old stable
group as its canary (deployforge reports the new roles in the result as ``promoted_target_group``).
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
    if not settings.get("listener_arn") and not settings.get("load_balancer"):
        out.append("aws_alb_listener needs listener_arn (or load_balancer and port)")
    if settings.get("load_balancer") and not settings.get("listener_arn") and not settings.get("port"):
        out.append("aws_alb_listener with load_balancer needs port")
    for key in ("stable_target_group", "canary_target_group"):
        if not settings.get(key):
            out.append(f"aws_alb_listener needs {key}")
    if settings.get("stable_target_group") and settings.get("stable_target_group") == settings.get(
        "canary_target_group"
    ):
        out.append("stable_target_group and canary_target_group must differ")
    return out


class AlbListenerShifter:
    kind = "aws_alb_listener"

    def __init__(self, settings: Mapping[str, Any], context: ShifterContext):
        self.settings = dict(settings)
        self.context = context
        self.provider = context.provider
        self._listener_arn: str | None = settings.get("listener_arn")
        self._rule_arn: str | None = settings.get("rule_arn")
        self._stable: str | None = None
        self._canary: str | None = None
        name = self._listener_arn or f"{settings.get('load_balancer')}:{settings.get('port')}"
        self.description = f"ALB listener {name}" + (f" rule {self._rule_arn}" if self._rule_arn else "")

    @property
    def _client(self) -> Any:
        return self.provider.client("elbv2")

    def _guard(self, action: str) -> Any:
        return self.provider._boundary(self.description, action)

    # -- preflight ---------------------------------------------------------------------------------

    def _resolve_tg(self, ref: str) -> str:
        if ref.startswith("arn:"):
            return ref
        try:
            with self._guard("describe_target_groups"):
                groups = self._client.describe_target_groups(Names=[ref])["TargetGroups"]
        except Exception as exc:  # ProviderError for TargetGroupNotFound
            raise ShifterNotFoundError(
                f"{self.description}: target group '{ref}' does not exist",
                hint="check stable_target_group / canary_target_group",
            ) from exc
        return str(groups[0]["TargetGroupArn"])

    def preflight(self) -> None:
        from deployforge.errors import ProviderError

        if not self._listener_arn:
            lb = self.settings["load_balancer"]
            try:
                with self._guard("describe_load_balancers"):
                    lbs = self._client.describe_load_balancers(Names=[lb])["LoadBalancers"]
            except ProviderError as exc:
                raise ShifterNotFoundError(
                    f"{self.description}: load balancer '{lb}' does not exist ({exc.code or exc.message})",
                    hint="check deploy.shifter.load_balancer",
                ) from None
            with self._guard("describe_listeners"):
                listeners = self._client.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
            port = int(self.settings["port"])
            match = [x for x in listeners if int(x["Port"]) == port]
            if not match:
                raise ShifterNotFoundError(
                    f"{self.description}: load balancer '{lb}' has no listener on port {port}",
                    hint=f"listener ports: {', '.join(str(x['Port']) for x in listeners) or '(none)'}",
                )
            self._listener_arn = match[0]["ListenerArn"]
        try:
            with self._guard("describe_listeners"):
                self._client.describe_listeners(ListenerArns=[self._listener_arn])
        except ProviderError as exc:
            raise ShifterNotFoundError(
                f"{self.description}: the listener does not exist ({exc.code or exc.message})",
                hint="check deploy.shifter.listener_arn",
            ) from None
        if self._rule_arn:
            try:
                with self._guard("describe_rules"):
                    self._client.describe_rules(RuleArns=[self._rule_arn])
            except ProviderError as exc:
                raise ShifterNotFoundError(
                    f"{self.description}: the listener rule does not exist ({exc.code or exc.message})",
                    hint="check deploy.shifter.rule_arn",
                ) from None
        self._stable = self._resolve_tg(str(self.settings["stable_target_group"]))
        self._canary = self._resolve_tg(str(self.settings["canary_target_group"]))

    def _ready(self) -> tuple[str, str, str]:
        if self._stable is None or self._canary is None or self._listener_arn is None:
            self.preflight()
        assert self._stable and self._canary and self._listener_arn
        return self._listener_arn, self._stable, self._canary

    # -- weights -------------------------------------------------------------------------------------

    def _actions(self) -> list[dict[str, Any]]:
        listener, _, _ = self._ready()
        if self._rule_arn:
            with self._guard("describe_rules"):
                rules = self._client.describe_rules(RuleArns=[self._rule_arn])["Rules"]
            return list(rules[0]["Actions"])
        with self._guard("describe_listeners"):
            listeners = self._client.describe_listeners(ListenerArns=[listener])["Listeners"]
        return list(listeners[0]["DefaultActions"])

    def current(self) -> Weights:
        _, stable, canary = self._ready()
        raw: dict[str, float] = {}
        for action in self._actions():
            if action.get("Type") != "forward":
                continue
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
            if groups:
                for g in groups:
                    raw[g["TargetGroupArn"]] = float(g.get("Weight", 1))
            elif action.get("TargetGroupArn"):
                raw[action["TargetGroupArn"]] = 1.0
        total = sum(raw.values()) or 1.0
        s = round(100 * raw.get(stable, 0.0) / total)
        c = round(100 * raw.get(canary, 0.0) / total)
        return Weights(stable=s, canary=c, detail=raw)

    def _write(self, groups: list[dict[str, Any]]) -> None:
        listener, _, _ = self._ready()
        action = {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}
        if self._rule_arn:
            with self._guard("modify_rule"):
                self._client.modify_rule(RuleArn=self._rule_arn, Actions=[action])
        else:
            with self._guard("modify_listener"):
                self._client.modify_listener(ListenerArn=listener, DefaultActions=[action])

    def set_canary_weight(self, percent: int) -> Weights:
        _, stable, canary = self._ready()
        self._write(
            [
                {"TargetGroupArn": stable, "Weight": 100 - percent},
                {"TargetGroupArn": canary, "Weight": percent},
            ]
        )
        return check_readback(self, percent, self.current())

    def rollback(self) -> Weights:
        return self.set_canary_weight(0)

    def promote(self) -> Weights:
        """Canary at 100%; the forward action then names only the canary group (the new stable)."""
        _, _, canary = self._ready()
        self._write([{"TargetGroupArn": canary, "Weight": 100}])
        got = self.current()
        return check_readback(self, 100, got)
