#!/bin/sh
# One-shot: import the credentials and workflow files into n8n and publish them (compose's n8n-setup).
set -eu
cat > /tmp/credentials.json <<JSON
[{"id":"lihProcessorApi1","name":"Lead Intake Processor","type":"leadIntakeProcessorApi",
  "data":{"baseUrl":"http://processor:8000","hmacSecret":"${WEBHOOK_HMAC_SECRET%%,*}","serviceToken":"${SERVICE_TOKEN}"}},
 {"id":"lihJiraConflue01","name":"Lead Intake Jira/Confluence","type":"leadIntakeJiraConfluenceApi",
  "data":{"baseUrl":"http://mock-jira-confluence:9002","apiToken":""}}]
JSON
n8n import:credentials --input=/tmp/credentials.json
rm /tmp/credentials.json
n8n import:workflow --separate --input=/workflows
for file in /workflows/*.json; do
  id=$(node -p "require('$file').id")
  n8n publish:workflow --id="$id"
done
