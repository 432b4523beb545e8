// Validates a JSON event read from stdin against one of AWS's own event
// schemas from @aws-lambda-powertools/parser: node check_event.js S3Schema.
// Exits 0 when it parses, 1 with zod's report when not.
'use strict';
const schemas = require('@aws-lambda-powertools/parser/schemas');

const name = process.argv[2];
const schema = schemas[name];
if (!schema) {
  console.error(`no schema ${name}`);
  process.exit(2);
}
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const result = schema.safeParse(JSON.parse(input));
  if (!result.success) {
    console.error(JSON.stringify(result.error.issues, null, 2));
    process.exit(1);
  }
});
