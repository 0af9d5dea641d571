"""What the commands print and write, for every product: text, JSON and SARIF 2.1.0."""
