"""RC004 alias-bomb (error): a document that expands past 200,000 nodes through YAML aliases.

Anchors and aliases (`&a`, `*a`) let a small file describe an enormous
document ("billion laughs"). The loader counts the expanded size without
expanding it and refuses such documents. Reported by the loader.

Options: none (load errors cannot be disabled).

Passing:

```yaml
apiVersion: routectl.dev/v1
kind: Intent
metadata: {name: chat, labels: &labels {team: platform}}
spec: {default: true}
```

Failing:

```yaml
a: &a [x, x, x, x, x, x, x, x, x, x]  # RC004
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
```
"""
