#!/usr/bin/env bash
# On a push to the default branch: apply the plan the merged pull request's run saved.
# A saved plan applies exactly as reviewed, or fails as stale when the gateway moved
# since (routectl apply PLAN), so what merges is what was shown in the comment.
set -euo pipefail

if [ -z "${RC_GATEWAY_URL:-}" ] || [ -z "${RC_GATEWAY_TOKEN:-}" ]; then
  echo "::error title=routectl apply::apply-on-merge needs gateway-url and gateway-token"
  exit 1
fi
name="routectl-plan${RC_COMMENT_NAME:+-$RC_COMMENT_NAME}"
head=$(gh api "repos/$GITHUB_REPOSITORY/commits/$GITHUB_SHA/pulls" --jq '.[0].head.sha // empty')
if [ -z "$head" ]; then
  echo "::notice title=routectl apply::$GITHUB_SHA merged no pull request; nothing to apply"
  exit 0
fi
dir="${RUNNER_TEMP:-/tmp}/$name"
for run_id in $(gh run list --repo "$GITHUB_REPOSITORY" --commit "$head" \
  --json databaseId --jq '.[].databaseId'); do
  rm -rf "$dir"
  if gh run download "$run_id" --repo "$GITHUB_REPOSITORY" --name "$name" --dir "$dir" 2>/dev/null; then
    echo "Applying the plan of run $run_id (pull request head $head)"
    ROUTECTL_TOKEN="$RC_GATEWAY_TOKEN" routectl apply "$dir/routectl.plan" --gateway "$RC_GATEWAY_URL"
    exit $?
  fi
done
echo "::error title=routectl apply::no $name artifact from a run of $head; re-run the pull request's checks"
exit 1
