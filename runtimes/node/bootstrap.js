'use strict';
/*
 * Sluice's bootstrap for the nodejs runtimes.
 *
 * Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API and
 * runs the handler named by $_HANDLER ("file.export", "dir/file.export") from
 * $LAMBDA_TASK_ROOT, as AWS's Node.js runtime interface client does
 * (aws-lambda-nodejs-runtime-interface-client, the code behind AWS's managed
 * nodejs runtimes): same module resolution, context object, callback and
 * promise semantics, error shapes and log lines. Standard library only.
 */

const fs = require('fs');
const http = require('http');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');

/* ---- Runtime API client ------------------------------------------------ */

// AWS's client keeps one pooled keep-alive socket to the Runtime API.
const API = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
const HOST = API.slice(0, API.lastIndexOf(':'));
const PORT = Number(API.slice(API.lastIndexOf(':') + 1));
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

// One request; resolves to {status, headers, body}. No timeout: /next blocks
// until an event exists. A kept-alive socket the server closed meanwhile is
// retried once on a new one.
function request(method, urlPath, body, headers = {}, retried = false) {
  return new Promise((resolve, reject) => {
    if (body !== undefined) {
      headers = { 'Content-Type': 'application/json',
                  'Content-Length': Buffer.byteLength(body), ...headers };
    }
    const req = http.request({ host: HOST, port: PORT, method, path: BASE + urlPath,
                               headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', (err) => {
      if (req.reusedSocket && err.code === 'ECONNRESET' && !retried)
        resolve(request(method, urlPath, body, headers, true));
      else
        reject(err);
    });
    req.end(body);
  });
}

// Responses are JSON.stringify(result), undefined being null (as AWS's client).
const postResponse = (id, body) =>
  request('POST', `/invocation/${encodeURIComponent(id)}/response`, body);
// Invocation errors go without Lambda-Runtime-Function-Error-Type, as AWS's
// client sends them; init errors carry it.
const postError = (id, err) =>
  request('POST', `/invocation/${encodeURIComponent(id)}/error`,
          JSON.stringify(toRapidResponse(err)));
const postInitError = (err) => {
  const body = toRapidResponse(err);
  return request('POST', '/init/error', JSON.stringify(body),
                 { 'Lambda-Runtime-Function-Error-Type': body.errorType });
};

/* ---- errors ------------------------------------------------------------- */

// AWS's init error types: their name is "Runtime.<Class>", their message the
// original error's text ("Error: Cannot find module 'x'" ...).
class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {}
for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName,
                   UserCodeSyntaxError, UnhandledPromiseRejection])
  cls.prototype.name = `Runtime.${cls.name}`;

// The body AWS's Node runtime posts for an error: {errorType, errorMessage,
// trace} with trace = the stack's lines; anything thrown that is not an Error
// is {errorType: typeof it, errorMessage: String(it), trace: []}.
function toRapidResponse(err) {
  try {
    if (util.types.isNativeError(err) || (err && typeof err.name === 'string' &&
        typeof err.message === 'string' && typeof err.stack === 'string')) {
      return { errorType: err.name, errorMessage: err.message,
               trace: String(err.stack).split('\n') };
    }
    return { errorType: typeof err, errorMessage: String(err), trace: [] };
  } catch (_) {
    return { errorType: 'handled',
             errorMessage: 'callback called with Error argument, but there was a problem ' +
                           'while retrieving one or more of its message, name, and stack' };
  }
}

// How AWS logs an error ("Invoke Error \t{...}"): a tab, then the error as
// JSON with its enumerable properties and its stack as an array of lines.
function toFormatted(err) {
  try {
    return '\t' + JSON.stringify(err, (_k, v) => (v instanceof Error
      ? { errorType: v.name, errorMessage: v.message, code: v.code, ...v,
          ...(typeof v.stack === 'string' ? { stack: v.stack.split('\n') } : {}) }
      : v));
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(err));
  }
}

/* ---- logging ------------------------------------------------------------ */

// AWS's Node runtime replaces console's methods: each call is one line
// "<ISO time>\t<request id>\t<LEVEL>\t<message>", newlines inside the message
// turned into '\r' so that it stays one log event. The request id is
// "undefined" until the first invoke; AWS_LAMBDA_LOG_LEVEL filters levels.
let currentRequestId;

function patchConsole() {
  const levels = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
  const min = Math.max(0, levels.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()));
  const logger = (level) => (levels.indexOf(level) < min && level !== 'FATAL'
    ? () => {}
    : (message, ...params) => {
        const line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t` +
                     util.format(message, ...params);
        process.stdout.write(line.replace(/\n/g, '\r') + '\n');
      });
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = console.log = logger('INFO');
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = logger('FATAL');
}

/* ---- loading the handler ------------------------------------------------ */

// The nearest package.json decides whether a .js file is an ES module
// (not looking past a node_modules folder), as Node and AWS's loader do.
function isTypeModule(dir) {
  if (dir.endsWith('/node_modules')) return false;
  const pj = path.join(dir, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  return dir === '/' ? false : isTypeModule(path.dirname(dir));
}

// AWS's order: the exact file, then <name>.js (CommonJS unless its
// package.json says "type": "module"), <name>.mjs, <name>.cjs, and last
// Node's own resolution from the task root (a handler inside node_modules).
async function loadModule(appRoot, moduleRoot, name) {
  const base = path.resolve(appRoot, moduleRoot, name);
  const has = (ext) => fs.existsSync(base + ext);
  const importFile = (file) => import(pathToFileURL(file).href);
  if (has('')) return require(base);
  if (has('.js')) {
    return isTypeModule(path.dirname(base)) ? importFile(base + '.js') : require(base + '.js');
  }
  if (has('.mjs')) return importFile(base + '.mjs');
  if (has('.cjs')) return require(base + '.cjs');
  return require(require.resolve(name, { paths: [appRoot, moduleRoot] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. ` +
      'Use absolute paths when specifying root directories in handler names.');
  }
  // "dir/file.export.nested": module "dir/file", property path "export.nested".
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;
  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    // MODULE_NOT_FOUND from require, ERR_MODULE_NOT_FOUND from an ES
    // module's import: AWS reports both as Runtime.ImportModuleError.
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND'))
      throw new ImportModuleError(e);
    throw e; // the module threw while loading: reported as it is
  }
  const fn = handlerPath.split('.').reduce((o, key) => o && o[key], app);
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

/* ---- invocations -------------------------------------------------------- */

// Run when the event loop has nothing left to do ('beforeExit'): how AWS
// completes callback handlers that wait for an empty event loop, and
// handlers that neither return a promise nor call back (response null).
let beforeExit = () => {};
process.on('beforeExit', () => beforeExit());

// Where an uncaught exception or unhandled rejection is reported: the
// current invocation once one has started, /init/error before.
let reportFatal = postInitError;

class Runtime {
  constructor(handler) {
    // Called as this.handler, as AWS's client calls it: a function named
    // "handler" shows in stack traces as "Runtime.handler", as on AWS.
    this.handler = handler;
  }

  scheduleIteration() {
    setImmediate(() => this.handleOnce().catch((err) => {
      console.log(`Unexpected Top Level Error: ${err}`);
      fatal(err, 129);
    }));
  }

  async handleOnce() {
    const next = await request('GET', '/invocation/next');
    const h = next.headers;
    const id = h['lambda-runtime-aws-request-id'];
    currentRequestId = id;
    reportFatal = (err) => postError(id, err);
    // The X-Ray header goes to _X_AMZN_TRACE_ID for the SDKs.
    if (h['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
    else delete process.env._X_AMZN_TRACE_ID;

    // AWS's CallbackContext: the first completion posts (a response or an
    // error), later ones are refused with AWS's message; the next /next
    // follows the post.
    let completed = false;
    let waitForEmptyEventLoop = true;
    const settle = (post) => {
      if (completed) {
        console.error('Invocation has already been reported as done. ' +
                      'Cannot call complete more than once per invocation.');
        return;
      }
      completed = true;
      beforeExit = () => {};
      post().then(() => this.scheduleIteration(), (err) => fatal(err, 129));
    };
    const fail = (err) => settle(() => {
      console.error('Invoke Error', toFormatted(err));
      return postError(id, err);
    });
    const complete = (result) => {
      let body;
      try {
        body = JSON.stringify(result === undefined ? null : result);
      } catch (_) {
        return fail(new Error('Unable to stringify response body'));
      }
      return settle(() => postResponse(id, body));
    };
    const whenLoopEmpty = (fn) => {
      beforeExit = () => { beforeExit = () => {}; setImmediate(fn); };
    };
    // context.done/succeed/fail (legacy) complete at once; callback(err,
    // result) delivers a result once the event loop is empty, unless
    // context.callbackWaitsForEmptyEventLoop was set to false. Each may be
    // called once.
    const once = (fn) => {
      let called = false;
      return (...args) => { if (!called) { called = true; fn(...args); } };
    };
    const isError = (err) => err !== undefined && err !== null;
    const done = (err, result) => (isError(err) ? fail(err) : complete(result));
    const callback = once((err, result) => {
      if (isError(err)) fail(err);
      else if (!waitForEmptyEventLoop) complete(result);
      else whenLoopEmpty(() => complete(result));
    });

    const deadline = Number(h['lambda-runtime-deadline-ms']);
    const env = process.env;
    const context = {
      get callbackWaitsForEmptyEventLoop() { return waitForEmptyEventLoop; },
      set callbackWaitsForEmptyEventLoop(v) { waitForEmptyEventLoop = v; },
      succeed: once((result) => done(null, result)),
      fail: once((err) => done(isError(err) ? err : 'handled')),
      done: once(done),
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, // a string, as on AWS
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
      awsRequestId: id,
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };

    // A handler that neither returns a promise nor calls back gets null once
    // the event loop is empty (a plain return value is ignored, as on AWS).
    whenLoopEmpty(() => complete(null));
    try {
      context.clientContext = parseHeader(h, 'lambda-runtime-client-context', 'ClientContext');
      context.identity = parseHeader(h, 'lambda-runtime-cognito-identity', 'CognitoIdentity');
      const result = this.handler(JSON.parse(next.body || '{}'), context, callback);
      // An async handler: its promise settles the invocation at once.
      if (result && typeof result.then === 'function') result.then(context.succeed, context.fail);
    } catch (err) {
      callback(err);
    }
  }
}

// Client context and Cognito identity arrive as JSON text.
function parseHeader(headers, name, what) {
  const text = headers[name];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`Cannot parse ${what} as json: ${err}`);
  }
}

// Uncaught exceptions and unhandled rejections end the environment: the
// error goes to the current invocation (or to /init/error), then AWS's client
// exits with 129 and 128 respectively.
function fatal(err, code) {
  const post = reportFatal;
  reportFatal = () => Promise.resolve();
  post(err).catch(() => {}).finally(() => process.exit(code));
}

process.on('uncaughtException', (err) => {
  console.error('Uncaught Exception', toFormatted(err));
  fatal(err, 129);
});

process.on('unhandledRejection', (reason) => {
  const err = new UnhandledPromiseRejection(reason);
  console.error('Unhandled Promise Rejection', toFormatted(err));
  fatal(err, 128);
});

async function main() {
  patchConsole();
  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(appRoot, process.env._HANDLER || '');
  } catch (err) {
    // AWS logs an init failure as an uncaught exception and posts it to
    // /init/error with its type in Lambda-Runtime-Function-Error-Type.
    console.error('Uncaught Exception', toFormatted(err));
    fatal(err, 129);
    return;
  }
  new Runtime(handler).scheduleIteration();
}

main();
