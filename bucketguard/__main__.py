"""`python -m bucketguard` is the `bucketguard` command."""

import sys

from bucketguard.cli.main import main

sys.exit(main())
