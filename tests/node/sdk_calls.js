// Runs calls through an AWS SDK for JavaScript v3 client against an endpoint:
//   node sdk_calls.js @aws-sdk/client-sqs http://127.0.0.1:4566 < calls.json
// stdin: a JSON array of calls, [{"command": "SendMessageCommand",
// "input": {...}}, ...], run one after another. Binary inputs are written
// {"$base64": "..."} and given to the client as Uint8Array.
// stdout: one JSON array, per call either {"ok": <output without $metadata>,
// "status": <HTTP status>} or {"error": {"name", "code", "type", "message",
// "status", "fault"}}. Binary outputs (Uint8Array, streamed bodies) come back
// as {"$base64": "..."}.
// SDK_HTTP1=1 in the environment makes the client speak HTTP/1.1.
// Exits 0 whenever the calls could be run (their errors are data), 2 when the
// arguments or the input are wrong.
'use strict';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

function fail(message) {
  console.error(`sdk_calls: ${message}`);
  process.exit(2);
}

// The client class of a package: @aws-sdk/client-sqs exports SQSClient,
// @aws-sdk/client-cloudwatch-logs CloudWatchLogsClient, @aws-sdk/lib-dynamodb
// DynamoDBDocumentClient.
function clientClass(pkgName, mod) {
  const isClient = (k) => typeof mod[k] === 'function' && k.endsWith('Client') &&
    !k.startsWith('_') && typeof mod[k].prototype?.send === 'function';
  const candidates = Object.keys(mod).filter(isClient);
  if (pkgName === '@aws-sdk/lib-dynamodb') return mod.DynamoDBDocumentClient;
  const service = pkgName.replace(/^.*\/client-/, '').replace(/-/g, '').toLowerCase();
  const named = candidates.filter((k) => k.slice(0, -'Client'.length).toLowerCase() === service);
  if (named.length === 1) return mod[named[0]];
  if (candidates.length === 1) return mod[candidates[0]];
  return fail(`cannot tell the client class of ${pkgName} among: ${candidates.join(', ')}`);
}

// {"$base64": "..."} -> Uint8Array, everywhere in an input.
function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$base64') {
      if (typeof v.$base64 !== 'string') fail('$base64 takes a string');
      return new Uint8Array(Buffer.from(v.$base64, 'base64'));
    }
    const out = {};
    for (const k of keys) out[k] = decode(v[k]);
    return out;
  }
  return v;
}

// Uint8Array and streamed bodies -> {"$base64": "..."}, everywhere in an output.
async function encode(v) {
  if (v instanceof Uint8Array) return { $base64: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return Promise.all(v.map(encode));
  if (v !== null && typeof v === 'object') {
    if (typeof v.transformToByteArray === 'function') {
      return encode(await v.transformToByteArray());
    }
    if (v instanceof Date) return v.toISOString();
    if (v instanceof Set) return encode([...v]);
    if (v instanceof Map) return encode(Object.fromEntries(v));
    const out = {};
    for (const k of Object.keys(v)) out[k] = await encode(v[k]);
    return out;
  }
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function errorOf(e) {
  return {
    name: e?.name ?? null,
    code: e?.Code ?? null,
    type: e?.Type ?? null,
    message: e?.message ?? String(e),
    status: e?.$metadata?.httpStatusCode ?? null,
    fault: e?.$fault ?? null,
    // (DynamoDB's ConditionalCheckFailedException carries the item.)
    ...(e?.Item ? { item: e.Item } : {}),
    // (and a cancelled transaction its reasons)
    ...(e?.CancellationReasons ? { cancellationReasons: e.CancellationReasons } : {}),
  };
}

async function main() {
  const [pkgName, endpoint] = process.argv.slice(2);
  if (!pkgName || !endpoint) fail('usage: node sdk_calls.js <package-name> <endpoint-url> < calls.json');

  let mod;
  try {
    mod = require(pkgName);
  } catch (e) {
    fail(`cannot load ${pkgName}: ${e.message}`);
  }
  const Client = clientClass(pkgName, mod);

  let input = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) input += chunk;
  let calls;
  try {
    calls = JSON.parse(input);
  } catch (e) {
    fail(`stdin is not JSON: ${e.message}`);
  }
  if (!Array.isArray(calls)) fail('stdin must be a JSON array of calls');
  const commands = calls.map((call, i) => {
    if (call === null || typeof call !== 'object' || typeof call.command !== 'string') {
      fail(`call ${i} has no "command"`);
    }
    const name = call.command.endsWith('Command') ? call.command : `${call.command}Command`;
    const Command = mod[name];
    if (typeof Command !== 'function') fail(`call ${i}: ${pkgName} has no ${name}`);
    return new Command(decode(call.input ?? {}));
  });

  // SDK_HTTP1=1: HTTP/1.1 instead of the client's default. The Kinesis
  // client speaks HTTP/2 (for SubscribeToShard), which Sluice's front
  // door does not; its users configure this same handler.
  const http1 = process.env.SDK_HTTP1 === '1'
    ? { requestHandler: new (require('@smithy/node-http-handler').NodeHttpHandler)() }
    : {};
  const config = {
    endpoint,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    maxAttempts: 1,
    ...http1,
  };
  // @aws-sdk/lib-dynamodb's DocumentClient wraps a DynamoDB client: the
  // commands are its own (PutCommand...), the values plain JavaScript.
  const client = typeof Client.from === 'function' && pkgName === '@aws-sdk/lib-dynamodb'
    ? Client.from(new (require('@aws-sdk/client-dynamodb').DynamoDBClient)(config))
    : new Client(config);
  const results = [];
  try {
    for (const command of commands) {
      try {
        const output = await client.send(command);
        const { $metadata, ...rest } = output;
        results.push({ ok: await encode(rest), status: $metadata?.httpStatusCode ?? null });
      } catch (e) {
        results.push({ error: errorOf(e) });
      }
    }
  } finally {
    client.destroy();
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
