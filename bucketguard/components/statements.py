"""IAM policy statements callers add to a bucket policy or a key policy: checked before anything is
registered, turned into a policy document once every Output inside them is known."""

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from bucketguard.settings import SettingsError

POLICY_VERSION = "2012-10-17"
STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
# Each pair: a statement needs exactly one of the two (IAM JSON policy element reference).
REQUIRED_PAIRS = (("Action", "NotAction"), ("Principal", "NotPrincipal"), ("Resource", "NotResource"))


def check_statements(
    where: str, field: str, statements: object, reserved_sids: Sequence[str] = ()
) -> list[Mapping[str, Any]]:
    """The statements as a list, or SettingsError naming the statement, the problem and the fix.

    Values inside a statement may be Outputs (a role ARN from the same program); the keys, `Sid`
    and `Effect` must be plain so that they can be checked before registration.
    """
    if isinstance(statements, str | Mapping | pulumi.Output) or not isinstance(statements, Sequence):
        raise SettingsError(
            f"{where}: {field} must be a list of IAM statement dicts (got {type(statements).__name__}); "
            "put Outputs inside the statements' values, not around the list"
        )
    seen: dict[str, int] = {}
    for index, statement in enumerate(statements):
        at = f"{where}: {field}[{index}]"
        if not isinstance(statement, Mapping):
            raise SettingsError(
                f"{at} must be an IAM statement dict with Sid, Effect, Action, Principal and Resource "
                f"(got {statement!r})"
            )
        unknown = sorted(str(key) for key in statement if key not in STATEMENT_KEYS)
        if unknown:
            raise SettingsError(
                f"{at}: unknown statement element(s) {', '.join(unknown)}; use {', '.join(sorted(STATEMENT_KEYS))}"
            )
        sid = statement.get("Sid")
        if not isinstance(sid, str) or not sid:
            raise SettingsError(f"{at}: needs a Sid, a plain non-empty string that is unique in the policy (got {sid!r})")
        if sid in reserved_sids:
            raise SettingsError(f"{at}: Sid {sid!r} is the component's own statement; choose another Sid")
        if sid in seen:
            raise SettingsError(f"{at}: Sid {sid!r} is already used by {field}[{seen[sid]}]; Sids must be unique")
        seen[sid] = index
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise SettingsError(f"{at} ({sid}): Effect must be \"Allow\" or \"Deny\" (got {effect!r})")
        for element, negated in REQUIRED_PAIRS:
            present = [key for key in (element, negated) if statement.get(key) is not None]
            if len(present) != 1:
                got = "neither" if not present else "both"
                raise SettingsError(f"{at} ({sid}): needs exactly one of {element} or {negated} (got {got})")
    return list(statements)


def policy_document(statements: Sequence[pulumi.Input[Mapping[str, Any]]]) -> pulumi.Output[str]:
    """The policy JSON once every Output inside the statements is known."""
    # from_input resolves Outputs nested in dicts and lists, not in other Mapping types.
    plain = [dict(s) if isinstance(s, Mapping) else s for s in statements]
    resolved: pulumi.Output[Any] = pulumi.Output.from_input(plain)
    return resolved.apply(lambda plain: json.dumps({"Version": POLICY_VERSION, "Statement": plain}))
