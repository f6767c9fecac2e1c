#!/usr/bin/env bash
# The README walkthrough as a script: the same curl and CLI commands a user
# types, against a running node, with the answers checked. TestReadmeWalkthrough
# (cmd/trailspark) runs it against the real binary, so the README cannot
# drift from what works. Needs curl and jq.
# Usage: URL=http://127.0.0.1:8080 OP=<operator token> TRAILSPARK=bin/trailspark bash docs/walkthrough.sh
set -euo pipefail
URL=${URL:?set URL}
OP=${OP:?set OP}
TS=${TRAILSPARK:?set TRAILSPARK}
J='Content-Type: application/json'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# want GOT EXPECTED WHAT: fail loudly when an answer is not what the README says.
want() {
  if [ "$1" != "$2" ]; then
    echo "walkthrough: $3: got [$1], want [$2]" >&2
    exit 1
  fi
}

# Users, sessions and personal access tokens
curl -sf -XPOST $URL/api/v1/auth/register -H "$J" \
  -d '{"email":"ann@acme.io","password":"correct horse battery","name":"Ann"}' >/dev/null
ANN=$(curl -sf -XPOST $URL/api/v1/auth/login -H "$J" \
  -d '{"email":"ann@acme.io","password":"correct horse battery"}' | jq -r .token)
want "$(curl -sf $URL/api/v1/me -H "Authorization: Bearer $ANN" | jq -r .user.email)" "ann@acme.io" "me"
want "$(curl -sf -XPOST $URL/api/v1/me/tokens -H "Authorization: Bearer $ANN" -H "$J" -d '{"name":"ci"}' | jq -r '.token | startswith("tsp_")')" "true" "personal access token"
echo "correct horse battery" | "$TS" register --email bob@acme.io --name Bob --password-stdin --server $URL >/dev/null

# Organizations
want "$(curl -sf "$URL/api/v1/orgs/subdomain-check?name=Acme%20Corp" -H "Authorization: Bearer $ANN" | jq -r .suggestion)" "acme-corp" "subdomain suggestion"
ORG=$(curl -sf -XPOST $URL/api/v1/orgs -H "Authorization: Bearer $ANN" -H "$J" \
  -d '{"name":"Acme Corp","size":"11-50","industry":"Technology"}' | jq -r .id)
want "$(curl -s -XPOST $URL/api/v1/orgs -H "Authorization: Bearer $ANN" -H "$J" \
  -d '{"name":"Acme","subdomain":"-acme","size":"11-50","industry":"Technology"}' | jq -r '.error.code + " " + .error.field')" "invalid_subdomain subdomain" "bad subdomain"
want "$(curl -sf -XPOST $URL/api/v1/orgs -H "Authorization: Bearer $OP" -H "$J" \
  -d '{"name":"Globex","size":"51-200","industry":"Finance","owner_email":"bob@acme.io"}' | jq -r .subdomain)" "globex" "operator creates an org"

# Members and invitations
INV=$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/invitations -H "Authorization: Bearer $ANN" -H "$J" \
  -d '{"email":"bob@acme.io","role":"editor"}')
INV_TOKEN=$(echo "$INV" | jq -r .token)
BOB=$(curl -sf -XPOST $URL/api/v1/auth/login -H "$J" -d '{"email":"bob@acme.io","password":"correct horse battery"}' | jq -r .token)
want "$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/invitations/accept -H "Authorization: Bearer $BOB" -H "$J" \
  -d "{\"token\":\"$INV_TOKEN\"}" | jq -r .role)" "editor" "accept invitation"
BOB_ID=$(curl -sf $URL/api/v1/me -H "Authorization: Bearer $BOB" | jq -r .user.id)
want "$(curl -sf -XPATCH $URL/api/v1/orgs/$ORG/members/$BOB_ID -H "Authorization: Bearer $ANN" -H "$J" -d '{"role":"admin"}' | jq -r .role)" "admin" "change role"

# Signals in
curl -sf -XPOST $URL/api/v1/orgs/$ORG/signal-rules -H "Authorization: Bearer $ANN" -H "$J" -d '{
  "name": "Demo requested", "signal_type": "form_fill", "high_intent": true,
  "conditions": {"path": "event", "op": "equals", "value": "Demo Requested"},
  "mappings": [{"path": "email", "target": "email"}]}' >/dev/null
SK=$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/api-keys -H "Authorization: Bearer $ANN" -H "$J" -d '{"name":"web"}' | jq -r .key)
SIG=$(curl -sf -XPOST $URL/api/signal-staging/webhook/$SK -H "$J" \
  -d '{"email":"bob@globex.com","event":"Demo Requested","messageId":"m-1"}')
want "$(echo "$SIG" | jq -r '.message + " " + (.cold_storage|tostring)')" "Signal received and queued for processing false" "webhook 202"
ID=$(echo "$SIG" | jq -r .id)
for _ in $(seq 50); do
  st=$(curl -sf $URL/api/v1/orgs/$ORG/signals/$ID -H "Authorization: Bearer $ANN" | jq -r .status)
  [ "$st" = completed ] && break
  sleep 0.1
done
want "$st" "completed" "signal processed"
want "$(curl -sf "$URL/api/v1/orgs/$ORG/leads?email=bob@globex.com" -H "Authorization: Bearer $ANN" | jq -r '.items[0].account.how')" "inferred_domain" "lead linked to the inferred account"
want "$(curl -sf -XPOST $URL/api/signal-staging/webhook/$SK/batch -H "$J" \
  -d '[{"userId":"u1","event":"Signed Up"},{"email":5}]' | jq -r '"\(.accepted) \(.rejected)"')" "1 1" "batch with a bad item"
printf '{"email":"a@initech.com","event":"Demo Requested"}\n{"email":"b@initech.com","event":"Viewed"}\n' > "$tmp/signals.ndjson"
"$TS" signals import "$tmp/signals.ndjson" --key "$SK" --server $URL --output json 2>/dev/null | jq -e '.accepted == 2' >/dev/null

# Anonymous visits wait in cold storage until an identify links them
want "$(curl -sf -XPOST $URL/api/signal-staging/webhook/$SK -H "$J" -d '{"type":"page","anonymousId":"a-1","name":"Pricing"}' | jq -r .cold_storage)" "true" "anonymous page view"
curl -sf -XPOST $URL/api/signal-staging/webhook/$SK -H "$J" \
  -d '{"type":"identify","anonymousId":"a-1","traits":{"email":"carol@globex.com"}}' >/dev/null
for _ in $(seq 50); do
  tl=$(curl -sf "$URL/api/v1/orgs/$ORG/leads?email=carol@globex.com" -H "Authorization: Bearer $ANN" | jq -r '[.items[0].timeline[]? | .event // .type] | join(",")')
  [ "$tl" = "Pricing,identify" ] && break
  sleep 0.1
done
want "$tl" "Pricing,identify" "cold signal replayed onto the lead"

# Segment-compatible API and the unmapped queue
want "$(curl -sf -u "$SK:" -H "$J" $URL/v1/identify -d '{"userId":"u-9","anonymousId":"a-9","traits":{"email":"dana@initech.com"}}' | jq -r .success)" "true" "segment identify"
curl -sf $URL/api/v1/orgs/$ORG/signal-queue -H "Authorization: Bearer $ANN" | jq -e '.items | length > 0' >/dev/null

# Scoring: the starter rules and starter ICP evaluate a lead from its first signals.
# A known firmographic profile lifts confidence above the 70% minimum (with
# nothing known the evaluation is stored as cold, held back, and says why).
curl -sf -XPOST $URL/api/v1/orgs/$ORG/accounts -H "Authorization: Bearer $ANN" -H "$J" \
  -d '{"name":"Initech","domain":"initech.com","industry":"Software","employees":300}' >/dev/null
for body in '{"email":"erin@initech.com","event":"Form Submitted"}' '{"email":"erin@initech.com","type":"page","name":"Pricing"}' \
  '{"email":"erin@initech.com","event":"Demo Requested"}'; do
  curl -sf -XPOST $URL/api/signal-staging/webhook/$SK -H "$J" -d "$body" >/dev/null
done
for _ in $(seq 100); do
  grade=$(curl -sf "$URL/api/v1/orgs/$ORG/leads?email=erin@initech.com" -H "Authorization: Bearer $ANN" | jq -r '.items[0].evaluation.grade // empty')
  [ -n "$grade" ] && break
  sleep 0.1
done
want "$grade" "hot" "lead evaluated"
LEAD=$(curl -sf "$URL/api/v1/orgs/$ORG/leads?email=erin@initech.com" -H "Authorization: Bearer $ANN" | jq -r '.items[0].id')
EV=$(curl -sf "$URL/api/v1/orgs/$ORG/leads/$LEAD/evaluations" -H "Authorization: Bearer $ANN" | jq -r '.items[0].id')
# contributions add up to the logit
curl -sf $URL/api/v1/orgs/$ORG/evaluations/$EV -H "Authorization: Bearer $ANN" \
  | jq -e '((.intercept + ([.contributions[].points] | add)) - .logit | fabs) < 1e-9' >/dev/null
want "$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/evaluations/$EV/feedback -H "Authorization: Bearer $ANN" -H "$J" \
  -d '{"reason":"Intern doing a school project","expected_grade":"cold"}' | jq -r .status)" "pending" "feedback"
want "$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/refinements/preview -H "Authorization: Bearer $ANN" | jq -r '.rows[0].expected_grade')" "cold" "refinement preview"
want "$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/refinements -H "Authorization: Bearer $ANN" | jq -r .model.status)" "active" "refinement applied"
want "$(curl -s -XPUT $URL/api/v1/orgs/$ORG/settings -H "Authorization: Bearer $ANN" -H "$J" -d '{"lookback_days":400}' | jq -r .error.field)" "lookback_days" "settings out of range"
"$TS" models list $ORG --server $URL --token $ANN >/dev/null

# Plans and usage
want "$(curl -sf $URL/api/v1/orgs/$ORG/usage -H "Authorization: Bearer $ANN" | jq -r '.meters[] | select(.meter=="evaluations") | .used > 0')" "true" "usage counted"
want "$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/billing/change-plan -H "Authorization: Bearer $ANN" -H "$J" -d '{"plan_id":"growth"}' | jq -r .kind)" "upgrade" "upgrade"
BARS=$("$TS" usage $ORG --server $URL --token $ANN)
echo "$BARS" | grep -q "^evaluations .* ok" || { echo "walkthrough: usage bars:" >&2; echo "$BARS" >&2; exit 1; }
want "$("$TS" billing show $ORG --server $URL --token $ANN --output json | jq -r .plan.id)" "growth" "billing show"

# Transfer & remove
want "$(curl -sf -XPOST $URL/api/v1/orgs/$ORG/transfer-ownership -H "Authorization: Bearer $ANN" -H "$J" \
  -d "{\"user_id\":\"$BOB_ID\"}" | jq -r .owner.role)" "owner" "transfer ownership"
echo "walkthrough: ok"
