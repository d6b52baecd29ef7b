"""RC001 missing-path (error): a path given on the command line does not exist or cannot be read.

This is a usage error, not a finding: `routectl lint` prints it and exits 2
whatever the other findings are, so a CI job that lints a misspelled
directory fails loudly instead of passing on nothing. Reported by the loader.

Options: none (load errors cannot be disabled).

Failing:

```yaml
# routectl lint policies/no-such-dir   -> exit 2
```
"""
