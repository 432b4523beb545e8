#!/bin/sh
# Deploys the orders pipeline to a running Sluice with the aws CLI and
# `sluice blueprint deploy`: CSV lands in s3://$BUCKET/raw/, the blueprint
# validates it and converts it to Parquet partitioned by order_date under
# curated/, the catalog (sales.orders) learns each new partition, and a
# file with too many bad rows fails, which alerts an SNS topic that a
# queue is subscribed to. Then uploads the first sample file.
#
#   ./deploy.sh                      # Sluice on http://localhost:4566
#   ENDPOINT=http://127.0.0.1:9000 BUCKET=mine SLUICE=/path/to/sluice ./deploy.sh
set -eu
cd "$(dirname "$0")"
ENDPOINT=${ENDPOINT:-http://localhost:4566}
BUCKET=${BUCKET:-lake}
FUNCTION=${FUNCTION:-orders-pipeline}
ACCOUNT=${ACCOUNT:-000000000000}
SLUICE=${SLUICE:-../../build/sluice}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_PAGER=""
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }

aws s3api head-bucket --bucket "$BUCKET" 2>/dev/null || aws s3 mb "s3://$BUCKET"

# The alert: a topic, and a queue subscribed to it.
topic=$(aws sns create-topic --name orders-alerts --query TopicArn --output text)
queue=$(aws sqs create-queue --queue-name orders-alerts-inbox --query QueueUrl --output text)
qarn=$(aws sqs get-queue-attributes --queue-url "$queue" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text)
aws sns subscribe --topic-arn "$topic" --protocol sqs --notification-endpoint "$qarn" \
    --attributes RawMessageDelivery=true >/dev/null

# The function: validate against schema.json, convert with these columns.
"$SLUICE" blueprint deploy "$FUNCTION" --endpoint "$ENDPOINT" \
    --steps validate+convert \
    --json-schema "$(cat schema.json)" \
    --schema 'order_id:bigint!,customer:string,country:string,amount:decimal(10,2),order_date:date,status:string' \
    --partition-by order_date \
    --output "s3://$BUCKET/curated/orders/" \
    --rejected "s3://$BUCKET/rejected/" \
    --catalog-table sales.orders \
    --max-rejected 2 >/dev/null
arn=$(aws lambda get-function-configuration --function-name "$FUNCTION" \
    --query FunctionArn --output text)

# A failure (after no retry: a bad file stays bad) goes to the topic.
aws lambda put-function-event-invoke-config --function-name "$FUNCTION" \
    --maximum-retry-attempts 0 \
    --destination-config "{\"OnFailure\": {\"Destination\": \"$topic\"}}" >/dev/null

# S3 may invoke it, for CSV under raw/.
aws lambda remove-permission --function-name "$FUNCTION" --statement-id s3-invoke \
    >/dev/null 2>&1 || true
aws lambda add-permission --function-name "$FUNCTION" --statement-id s3-invoke \
    --action lambda:InvokeFunction --principal s3.amazonaws.com \
    --source-arn "arn:aws:s3:::$BUCKET" --source-account "$ACCOUNT" >/dev/null
aws s3api put-bucket-notification-configuration --bucket "$BUCKET" \
    --notification-configuration "{\"LambdaFunctionConfigurations\": [{
      \"Id\": \"orders\", \"LambdaFunctionArn\": \"$arn\", \"Events\": [\"s3:ObjectCreated:*\"],
      \"Filter\": {\"Key\": {\"FilterRules\": [{\"Name\": \"prefix\", \"Value\": \"raw/\"},
                                             {\"Name\": \"suffix\", \"Value\": \".csv\"}]}}}]}"

aws s3 cp sample/orders-2024-05-01.csv "s3://$BUCKET/raw/orders-2024-05-01.csv" >/dev/null
echo "deployed: s3://$BUCKET/raw/*.csv -> $FUNCTION -> s3://$BUCKET/curated/orders/ (sales.orders);"
echo "          failures -> $topic -> $queue"
