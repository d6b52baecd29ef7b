"""Markdown reports for reviewers: one jinja2 environment, the PR comment, folding to size.

Every markdown report routectl prints (``plan``, ``drift``, ``diff``, ``simulate``
``--format markdown``) and the pull-request comment come from templates in the
package, rendered by the code the CLI runs.
"""
