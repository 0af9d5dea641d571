"""bucketguard's component provider (run by the Pulumi Python language host: `python <this folder> ENGINE`)."""

from bucketguard.components.provider import serve

if __name__ == "__main__":
    serve()
