"""RC006 not-a-manifest (error): a YAML document that is not a routectl manifest.

Every document needs `apiVersion: routectl.dev/v1` and a known `kind`
(Provider, Model, Classification, Intent, Tier, Route, Experiment, Consumer,
PolicyTest), and must be a mapping. Keep other YAML (CI files, Helm values)
outside the policy directory, or in a hidden directory, which is skipped.
Reported by the loader.

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
kind: Teir  # RC006
metadata: {name: light}
spec: {rank: 1}
```
"""
