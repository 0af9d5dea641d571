"""bucketguard's stack program: the buckets declared in `bucketguard:*` config, encrypted."""

import pulumi

from bucketguard.components.stack import build_stack, export_stack, read_stack_config
from bucketguard.settings import SettingsError

try:
    config = read_stack_config()
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None

export_stack(build_stack(config))
