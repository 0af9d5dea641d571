"""`python -m bucketguard` is the `bucketguard` command."""

import sys

from bucketguard.cli import main

sys.exit(main())
