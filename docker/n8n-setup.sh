#!/bin/sh
# One-shot (compose's n8n-setup): import the credentials (the first lead source's among them: add
# more in the editor, docs/lead-sources.md) and the workflow files baked into the
# image, and publish the workflows. Runs before any n8n process starts; the workflow files in
# the image are the truth, so a new image replaces workflows edited in the editor (export them
# into workflows/ first: npm run workflows:export).
set -eu
workflows=/opt/lead-intake/workflows
credentials=$(mktemp)
trap 'rm -f "$credentials"' EXIT
cat > "$credentials" <<JSON
[{"id":"lihProcessorApi1","name":"Lead Intake Processor","type":"leadIntakeProcessorApi",
  "data":{"baseUrl":"${PROCESSOR_URL}","hmacSecret":"${WEBHOOK_HMAC_SECRET%%,*}","serviceToken":"${SERVICE_TOKEN}"}},
 {"id":"lihJiraConflue01","name":"Lead Intake Jira/Confluence","type":"leadIntakeJiraConfluenceApi",
  "data":{"baseUrl":"${MOCK_JC_URL}","apiToken":""}},
 {"id":"lihEventsApi0001","name":"Lead Intake Events","type":"leadIntakeEventsApi",
  "data":{"secret":"${EVENTS_SECRET}","previousSecret":""}},
 {"id":"lihSourceDev0001","name":"Lead source: ${LEAD_SOURCE_NAME}","type":"leadSourceApi",
  "data":{"sourceName":"${LEAD_SOURCE_NAME}","apiKey":"${LEAD_SOURCE_API_KEY}","previousApiKey":""}}]
JSON
n8n import:credentials --input="$credentials"
n8n import:workflow --separate --input="$workflows"
for file in "$workflows"/*.json; do
  id=$(node -p "require('$file').id")
  n8n publish:workflow --id="$id"
done
