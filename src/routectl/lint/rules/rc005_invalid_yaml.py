"""RC005 invalid-yaml (error): the file is not valid YAML, or repeats a key.

The finding points at the line and column where the parser gave up (or at
the repeated key). Duplicate keys are errors rather than "last one wins", so
that a pasted second `targets:` cannot silently replace the first. Reported
by the loader.

Options: none (load errors cannot be disabled).

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat}
metadata: {name: code}  # RC005
```
"""
