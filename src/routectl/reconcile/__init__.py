r"""Reconcile a gateway with Git: plan, apply, drift and the reviewer's diff.

Data flow::

    manifests --load--> desired state (core.state) --\
                                                      diff --> Plan --render--> text/json/markdown
    gateway admin API (admin.client) --> live state -/           \--apply--> change set (If-Match)

Nothing here talks to a gateway directly: every read and write goes through
:class:`routectl.admin.client.AdminBackend`, embedded or over HTTP.
"""
