#!/bin/sh
# Deploys the csv-to-json pipeline to a running Sluice with the aws CLI:
# a bucket, the function, S3's permission to invoke it, and a notification
# for CSV files under raw/. Then uploads the sample file.
#
#   ./deploy.sh                      # Sluice on http://localhost:4566
#   ENDPOINT=http://127.0.0.1:9000 BUCKET=mine ./deploy.sh
set -eu
cd "$(dirname "$0")"
ENDPOINT=${ENDPOINT:-http://localhost:4566}
BUCKET=${BUCKET:-pipeline}
FUNCTION=${FUNCTION:-csv-to-json}
ACCOUNT=${ACCOUNT:-000000000000}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_PAGER=""
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m zipfile -c "$work/function.zip" function.py

aws s3api head-bucket --bucket "$BUCKET" 2>/dev/null || aws s3 mb "s3://$BUCKET"
if aws lambda get-function --function-name "$FUNCTION" >/dev/null 2>&1; then
    aws lambda update-function-code --function-name "$FUNCTION" \
        --zip-file "fileb://$work/function.zip" >/dev/null
else
    aws lambda create-function --function-name "$FUNCTION" --runtime python3.11 \
        --handler function.handler --role "arn:aws:iam::$ACCOUNT:role/csv-to-json" \
        --timeout 30 --zip-file "fileb://$work/function.zip" >/dev/null
    aws lambda add-permission --function-name "$FUNCTION" --statement-id s3-invoke \
        --action lambda:InvokeFunction --principal s3.amazonaws.com \
        --source-arn "arn:aws:s3:::$BUCKET" --source-account "$ACCOUNT" >/dev/null
fi
arn=$(aws lambda get-function-configuration --function-name "$FUNCTION" \
    --query FunctionArn --output text)
cat > "$work/notification.json" <<JSON
{"LambdaFunctionConfigurations": [{
  "Id": "csv-to-json", "LambdaFunctionArn": "$arn", "Events": ["s3:ObjectCreated:*"],
  "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"},
                                     {"Name": "suffix", "Value": ".csv"}]}}}]}
JSON
aws s3api put-bucket-notification-configuration --bucket "$BUCKET" \
    --notification-configuration "file://$work/notification.json"
aws s3 cp sample/orders-2024-05.csv "s3://$BUCKET/raw/orders/2024-05.csv"
echo "deployed: s3://$BUCKET/raw/*.csv -> $FUNCTION -> s3://$BUCKET/curated/ and rejected/"
