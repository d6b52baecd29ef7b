"""RC003 not-utf8 (error): a manifest file that is not valid UTF-8.

Manifests are UTF-8 text. The finding points at the first byte that cannot
be decoded (often a file saved as Latin-1 or UTF-16 by an editor). Reported
by the loader.

Options: none (load errors cannot be disabled).

Passing:

```yaml
metadata: {name: munich, annotations: {owner: "Jürgen"}}  # saved as UTF-8
```

Failing:

```yaml
metadata: {name: munich, annotations: {owner: "J\xfcrgen"}}  # saved as Latin-1
```
"""
