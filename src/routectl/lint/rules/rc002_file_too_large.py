"""RC002 file-too-large (error): a manifest file larger than 5 MiB.

Policies are read whole and kept in memory with their source positions; a
file that large is almost certainly not a hand-written manifest (a log, a
dataset, generated output). Split real policies into several files.
Reported by the loader.

Options: none (load errors cannot be disabled).

Passing:

```yaml
# policies/routes/*.yaml, each well under 5 MiB
```

Failing:

```yaml
# policies/all-routes.yaml: 6.2 MiB
```
"""
