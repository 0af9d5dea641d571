"""The floor: a pack with one resource and one stack policy that read nothing."""

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy

PolicyPack(
    name="noop",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name="noop-resource", description="reads nothing", validate=lambda args, report: None),
        StackValidationPolicy(name="noop-stack", description="reads nothing", validate=lambda args, report: None),
    ],
)
