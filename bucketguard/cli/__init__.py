"""The `bucketguard` command line: one module per command, each parsing its arguments into a request,
calling the product and printing its result."""
