"""RC007 schema (error): a manifest that does not match the schema of its kind.

Unknown fields, missing required fields, wrong types, values out of range
and invalid names are all reported at the offending field, with the field
path (`spec.targets.0.weight`) and a hint. `routectl schema` prints the JSON
Schema, which editors use to complete and check manifests as you type. A
secret value in a credentials field is reported as RT010 instead. Reported by
the loader.

Options: none (load errors cannot be disabled).

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: light}
spec: {rank: 1}
```

Failing:

```yaml
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: light}
spec:
  rank: 1
  colour: green  # RC007
```
"""
