"""bucketguard's CrossGuard policy pack. Importing this package does not start the pack."""
