"""What reads Pulumi's own files, for every product: the project (`Pulumi.yaml`), a stack's config
(`Pulumi.<stack>.yaml`) with its secrets provider and `secure:` values, and a stack's exported state
(`pulumi stack export`)."""
