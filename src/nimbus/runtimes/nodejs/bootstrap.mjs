// Nimbus's Node.js runtime: runs inside every nodejs instance process, on node 18+, no npm dependencies.
//
// Started by the server as `node [--expose-gc --max-http-header-size 81920 --max-semi-space-size=S
// --max-old-space-size=O] bootstrap.mjs [control fd]` (fd 3 by default). It loads the handler named by `_HANDLER`
// from LAMBDA_TASK_ROOT once (init), says READY or INIT_ERROR, then serves INVOKE frames one at a time until the
// server closes the control socket (exit 0). Behaviour follows Lambda's Node runtime interface client (RIC):
// handler resolution, Runtime.* error names and messages, the context object, the console line format, and the
// `{errorType, errorMessage, trace}` error shape.
//
// Differences from Lambda, because an instance persists and we do not own its event loop:
// - a callback-style result is sent as soon as `callback(null, result)` is called, whatever
//   `context.callbackWaitsForEmptyEventLoop` says (Lambda sends it when the event loop drains; work still pending
//   then keeps running, and is frozen with the instance on Lambda too);
// - a handler that declares no callback and returns no promise completes (with null, as on Lambda) once no
//   resource it started is still active (`process.getActiveResourcesInfo()` against a baseline);
// - a handler that declares a callback but never calls it, or whose promise never settles, runs into the
//   function timeout (Lambda ends it with null / Runtime.NodeJsExit when the event loop drains).
// Layers: CommonJS finds /opt/nodejs/node{NN}/node_modules and /opt/nodejs/node_modules through NODE_PATH (set
// here to Lambda's value when the server does not set it). ES modules ignore NODE_PATH, so when one of those
// folders exists a small resolve hook retries unresolved bare imports from them.
// One file on purpose (the sandbox binds single runtime files into /var/runtime), hence longer than our usual module.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import util from 'node:util';
import Module, { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const THIS_FILE = fileURLToPath(import.meta.url);

// -- frame codec: mirrors src/nimbus/protocol/frames.py (`>II` header/body lengths, ASCII JSON header, body) -------

const PREFIX_BYTES = 8;
const MAX_HEADER_BYTES = 64 * 1024;
const MAX_RESPONSE_BYTES = 6_291_556;
const MAX_BODY_BYTES = 16 * 1024 * 1024;

function encodeFrame(kind, header, body) {
  let json = JSON.stringify({ kind, ...header });
  let head = Buffer.from(json, 'utf8');
  if (head.length !== json.length) { // not ASCII: escape as Python's json.dumps(ensure_ascii=True) does
    json = json.replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
    head = Buffer.from(json, 'latin1');
  }
  if (head.length > MAX_HEADER_BYTES) throw new Error(`frame header of ${head.length} bytes is too large`);
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix.writeUInt32BE(head.length, 0);
  prefix.writeUInt32BE(body.length, 4);
  return [prefix, head, body];
}

class FrameDecoder {
  chunks = [];
  size = 0;
  need = 0; // bytes of the frame being received, once its prefix is known

  feed(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const frames = [];
    for (;;) {
      if (this.need === 0) {
        if (this.size < PREFIX_BYTES) return frames;
        const prefix = this.#take(PREFIX_BYTES, false);
        const headLen = prefix.readUInt32BE(0);
        const bodyLen = prefix.readUInt32BE(4);
        if (headLen > MAX_HEADER_BYTES) throw new Error(`frame header of ${headLen} bytes exceeds ${MAX_HEADER_BYTES}`);
        if (bodyLen > MAX_BODY_BYTES) throw new Error(`frame body of ${bodyLen} bytes exceeds ${MAX_BODY_BYTES}`);
        this.need = PREFIX_BYTES + headLen + bodyLen;
        this.headLen = headLen;
      }
      if (this.size < this.need) return frames;
      const frame = this.#take(this.need, true);
      this.need = 0;
      const header = JSON.parse(frame.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + this.headLen));
      if (header === null || typeof header !== 'object' || typeof header.kind !== 'string') {
        throw new Error("frame header must be a JSON object with a string 'kind'");
      }
      const { kind, ...rest } = header;
      frames.push({ kind, header: rest, body: frame.subarray(PREFIX_BYTES + this.headLen) });
    }
  }

  #take(n, consume) {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0];
    if (consume) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.size -= n;
    }
    return first.subarray(0, n);
  }
}

// -- errors, in the RIC's shapes -------------------------------------------------------------------------------------

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError,
  UnhandledPromiseRejection]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function looksLikeError(e) {
  return util.types.isNativeError(e) || Boolean(e && typeof e.name === 'string' && e.name &&
    typeof e.message === 'string' && e.message && typeof e.stack === 'string' && e.stack);
}

/** The error body Lambda returns to the caller: `{errorType, errorMessage, trace}`. */
function toErrorResponse(error) {
  try {
    if (looksLikeError(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: String(error.stack).split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more ' +
        'of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value) {
  if (!(value instanceof Error)) return value;
  const out = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
  if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
  return out;
}

/** The error as logged: a tab, then JSON with name, message and stack lines (the RIC's `toFormatted`). */
function formatError(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toErrorResponse(error));
  }
}

// -- logging: console.* become Lambda lines on stdout, written synchronously -----------------------------------------

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const JSON_LOGS = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
let currentRequestId; // logged as "undefined" before the first invoke, as Lambda does
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function writeAll(fd, data) {
  let buf = Buffer.from(data, 'utf8');
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs.writeSync(fd, buf));
    } catch (err) {
      if (err.code !== 'EAGAIN') return; // the log pipe is gone: nothing useful left to do with the line
      Atomics.wait(sleepCell, 0, 0, 1); // user code made the pipe non-blocking and it is full: wait for the reader
    }
  }
}

function jsonErrorReplacer(_key, value) {
  if (!(value instanceof Error)) return value;
  const stackTrace = typeof value.stack === 'string' ? value.stack.split('\n') : value.stack;
  return Object.assign({ errorType: value.constructor?.name ?? 'UnknownError', errorMessage: value.message,
    stackTrace }, value);
}

/** The RIC's JSON record: one argument is kept as is (an Error as its fields), several are util.format'ted. */
function jsonLine(time, level, args) {
  const record = { timestamp: time, level, requestId: currentRequestId };
  if (args.length === 1) {
    record.message = args[0];
    try {
      return JSON.stringify(record, jsonErrorReplacer);
    } catch {
      record.message = util.format(args[0]);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(...args);
  const error = args.find((a) => a instanceof Error);
  if (error) {
    record.errorType = error.constructor?.name ?? 'UnknownError';
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(record);
}

function logLine(level, args) {
  const time = new Date().toISOString();
  const line = JSON_LOGS ? jsonLine(time, level, args) : `${time}\t${currentRequestId}\t${level}\t${util.format(...args)}`;
  writeAll(1, line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const minimum = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  // `(message, ...params)` as the RIC: a bare console.log() prints "undefined"
  const make = (level) => (LEVELS[level] >= minimum ? (message, ...params) => logLine(level, [message, ...params])
    : () => {});
  console.trace = make('TRACE');
  console.debug = make('DEBUG');
  console.info = make('INFO');
  console.log = console.info;
  console.warn = make('WARN');
  console.error = make('ERROR');
  console.fatal = make('FATAL');
}

function logError(message, error) {
  if (JSON_LOGS) console.error(error instanceof Error ? error : new Error(error));
  else console.error(message, formatError(error instanceof Error ? error : new Error(error)));
}

// -- module paths: NODE_PATH for CommonJS, a resolve hook for ES modules ---------------------------------------------

function setUpModulePaths(taskRoot, runtimeDir) {
  if (!process.env.NODE_PATH) {
    const major = process.versions.node.split('.')[0];
    process.env.NODE_PATH = [`/opt/nodejs/node${major}/node_modules`, '/opt/nodejs/node_modules',
      path.join(runtimeDir, 'node_modules'), runtimeDir, taskRoot].join(':');
    Module._initPaths(); // re-read NODE_PATH: the CommonJS loader read it at startup
  }
  const parents = process.env.NODE_PATH.split(':')
    .filter((dir) => dir.endsWith('/node_modules') && fs.existsSync(dir))
    .map((dir) => pathToFileURL(path.dirname(dir) + '/').href);
  if (parents.length === 0) return; // no layer packages: keep the loader hook (a worker thread on node 20) away
  const fallback = (specifier, err) => err?.code === 'ERR_MODULE_NOT_FOUND' &&
    !/^([./#]|[a-z][a-z0-9+.-]*:)/i.test(specifier);
  if (typeof Module.registerHooks === 'function') { // node 22.15+: synchronous, in-thread
    Module.registerHooks({
      resolve(specifier, context, next) {
        try {
          return next(specifier, context);
        } catch (err) {
          if (!fallback(specifier, err)) throw err;
          for (const parentURL of parents) {
            try { return next(specifier, { ...context, parentURL }); } catch { /* next folder */ }
          }
          throw err;
        }
      },
    });
  } else if (typeof Module.register === 'function') { // node 20.6+
    const hooks = `let parents = [];
export function initialize(data) { parents = data.parents; }
export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); } catch (err) {
    if (!(${fallback.toString()})(specifier, err)) throw err;
    for (const parentURL of parents) { try { return await next(specifier, { ...context, parentURL }); } catch {} }
    throw err;
  }
}`;
    Module.register('data:text/javascript,' + encodeURIComponent(hooks), { data: { parents } });
  }
}

// -- handler loading (init), as the RIC's UserFunction.load ----------------------------------------------------------

function packageTypeIsModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = path.join(folder, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8'))?.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    const parent = path.dirname(folder);
    if (parent === folder) return false;
    folder = parent;
  }
}

const tryRequire = (file) => (fs.existsSync(file) ? require(file) : undefined);
const tryImport = async (file) => (fs.existsSync(file) ? import(pathToFileURL(file).href) : undefined);

async function loadModule(appRoot, moduleRoot, name) {
  const base = path.resolve(appRoot, moduleRoot, name);
  const extensionless = tryRequire(base);
  if (extensionless) return extensionless;
  const isModule = packageTypeIsModule(path.dirname(base));
  const loaded = (!isModule && tryRequire(base + '.js')) || (isModule && (await tryImport(base + '.js'))) ||
    (await tryImport(base + '.mjs')) || tryRequire(base + '.cjs');
  if (loaded) return loaded;
  // not in the task root: a package on the module paths (node_modules, NODE_PATH); throws MODULE_NOT_FOUND
  return require(require.resolve(name, { paths: [appRoot, path.join(appRoot, moduleRoot)] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. Use absolute paths when ` +
      'specifying root directories in handler names.');
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, name, property] = match;
  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, name);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e); // not ESM's ERR_MODULE_NOT_FOUND: as the RIC
    throw e;
  }
  const handler = property.split('.').reduce((obj, key) => obj && obj[key], app);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

// -- the control channel and the invoke loop -------------------------------------------------------------------------

let channel;
let controlFd;
let handler; // set once init succeeded
let current; // the invocation in progress: {requestId, done}
let ready = false;
let dying = false;
const queue = []; // received frames not yet served (the server sends one invoke at a time)

function serveNext() {
  while (handler && queue.length > 0 && (!current || current.done)) {
    const frame = queue.shift();
    if (frame.kind === 'invoke') handleInvoke(frame.header, frame.body);
  }
}

function send(kind, header, body = Buffer.alloc(0), then = undefined) {
  if (kind === 'result' || kind === 'error') {
    header = { ...header, max_rss_kb: process.resourceUsage().maxRSS };
  }
  const parts = encodeFrame(kind, header, body);
  if (body.length <= 65536 && channel.writableLength === 0) {
    // small frame, nothing queued: write it now (a socket write with room never blocks; no libuv write request)
    const frame = Buffer.concat(parts);
    let written = 0;
    try {
      written = fs.writeSync(controlFd, frame);
    } catch (err) {
      if (err.code !== 'EAGAIN') process.exit(0); // EPIPE & co: the server is gone, as on EOF
    }
    if (written === frame.length) return void (then && process.nextTick(then));
    return void channel.write(frame.subarray(written), then);
  }
  channel.cork();
  channel.write(parts[0]);
  channel.write(parts[1]);
  channel.write(parts[2], then);
  channel.uncork();
}

function sendJson(kind, value, then) {
  send(kind, {}, Buffer.from(JSON.stringify(value), 'utf8'), then);
}

// process.stdout/stderr are created on first use (~5 ms for pipes): note which ones user code did create
const usedStdio = [];
for (const name of ['stdout', 'stderr']) {
  const desc = Object.getOwnPropertyDescriptor(process, name);
  if (!desc?.get || !desc.configurable) continue;
  Object.defineProperty(process, name, {
    ...desc,
    get() {
      const stream = desc.get.call(this);
      if (!usedStdio.includes(stream)) usedStdio.push(stream);
      return stream;
    },
  });
}

/** Wait for output user code queued on process.stdout/stderr (only when a pipe was full), then send. */
function flushStdio(then) {
  const pending = usedStdio.filter((s) => s.writableLength > 0);
  if (pending.length === 0) return then();
  Promise.all(pending.map((s) => new Promise((resolve) => s.once('drain', resolve)))).then(then);
}

function completeResult(result) {
  let json;
  try {
    json = JSON.stringify(result === undefined ? null : result) ?? 'null';
  } catch {
    return completeError(new Error('Unable to stringify response body'));
  }
  const body = Buffer.from(json, 'utf8');
  if (body.length > MAX_RESPONSE_BYTES) {
    const error = {
      errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
      errorType: 'Function.ResponseSizeTooLarge',
    };
    return flushStdio(() => sendJson('error', error));
  }
  flushStdio(() => send('result', {}, body));
}

function completeError(err) {
  logError('Invoke Error', err);
  flushStdio(() => sendJson('error', toErrorResponse(err)));
}

function resourceCounts() {
  const counts = new Map();
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/** Call `onDrain` once no resource beyond `baseline` keeps the event loop busy (polls every 2 ms). */
function watchDrain(baseline, invocation, onDrain) {
  const check = () => {
    if (invocation.done) return;
    for (const [name, n] of resourceCounts()) {
      if (n > (baseline.get(name) ?? 0)) return void setTimeout(check, 2).unref();
    }
    onDrain();
  };
  setImmediate(check).unref();
}

function makeContext(header, done) {
  const deadline = Number(header.deadline_ms);
  const parse = (raw, what) => {
    if (raw === undefined || raw === null || raw === '') return undefined;
    try {
      return JSON.parse(raw);
    } catch (err) {
      throw new Error(`Cannot parse ${what} as json: ${err}`);
    }
  };
  let waitForEmptyEventLoop = true;
  const env = process.env;
  return {
    get callbackWaitsForEmptyEventLoop() { return waitForEmptyEventLoop; },
    set callbackWaitsForEmptyEventLoop(value) { waitForEmptyEventLoop = value; },
    succeed: (result) => done(null, result),
    fail: (err) => done(err ?? 'handled'),
    done: (err, result) => done(err, result),
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parse(header.client_context, 'ClientContext'),
    identity: parse(header.cognito_identity, 'CognitoIdentity'),
    invokedFunctionArn: header.invoked_arn,
    awsRequestId: header.request_id,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
}

function handleInvoke(header, body) {
  const invocation = { requestId: header.request_id, done: false };
  current = invocation;
  currentRequestId = header.request_id;
  if (header.trace_id) process.env._X_AMZN_TRACE_ID = header.trace_id;
  else delete process.env._X_AMZN_TRACE_ID;
  // the first of callback / context.done|succeed|fail / the returned promise settles the invocation
  const finish = (err, result) => {
    if (invocation.done) return;
    invocation.done = true;
    if (err !== undefined && err !== null) completeError(err);
    else completeResult(result);
    setImmediate(serveNext);
  };
  const baseline = resourceCounts();
  let returned;
  try {
    const event = body.length ? JSON.parse(body.toString('utf8')) : {};
    returned = handler(event, makeContext(header, finish), finish);
  } catch (err) {
    return finish(err ?? 'handled');
  }
  if (returned && typeof returned.then === 'function') {
    returned.then((result) => finish(null, result), (err) => finish(err ?? 'handled'));
  } else if (!invocation.done && handler.length < 3) {
    watchDrain(baseline, invocation, () => finish(null, null));
  }
}

/** An uncaught exception or unhandled rejection: fail the invocation (or init) in progress, then exit. */
function fatal(label, error, exitCode) {
  logError(label, error);
  if (dying) return; // already reporting an earlier one
  dying = true;
  const exit = () => process.exit(exitCode);
  if (!channel) return exit();
  if (!ready) return sendJson('init_error', toErrorResponse(error), exit);
  if (current && !current.done) {
    current.done = true;
    return flushStdio(() => sendJson('error', toErrorResponse(error), exit));
  }
  channel.end(exit); // between invocations: the server sees the exit and replaces the instance
}

/** Whether the task root is on a read-only mount: the ST_RDONLY flag of statvfs, as the Python bootstrap asks, which
 * Node's fs.statfs does not expose; so it is read from /proc/self/mountinfo (per-mount or superblock `ro`), for the
 * mount whose mount point is the longest prefix of the task root's real path (the last listed, when stacked).
 * access(W_OK) cannot tell: for a directory we may not write (the sandbox's /var/task is root-owned 0555) it says
 * EACCES before it looks at the mount. */
function taskRootReadOnly(taskRoot) {
  let real;
  let table;
  try {
    real = fs.realpathSync(taskRoot);
    table = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  const unescape = (field) => field.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
  let found = null;
  for (const line of table.split('\n')) {
    // id parent major:minor root mount-point mount-options [optional fields...] - fstype source super-options
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 4) continue;
    const point = unescape(fields[4]);
    const under = point === '/' || real === point || real.startsWith(point + '/');
    if (under && (found === null || point.length >= found.point.length)) {
      found = { point, options: [...fields[5].split(','), ...fields[dash + 3].split(',')] };
    }
  }
  return found !== null && found.options.includes('ro');
}

async function main() {
  patchConsole();
  process.on('uncaughtException', (error) => fatal('Uncaught Exception', error, 129));
  process.on('unhandledRejection', (reason, promise) =>
    fatal('Unhandled Promise Rejection', new UnhandledPromiseRejection(reason, promise), 128));

  controlFd = Number(process.argv[2] ?? 3);
  channel = new net.Socket({ fd: controlFd, readable: true, writable: true });
  const decoder = new FrameDecoder();
  channel.on('data', (chunk) => {
    queue.push(...decoder.feed(chunk));
    serveNext();
  });
  channel.on('end', () => process.exit(0)); // the server closed the channel: stop
  channel.on('error', () => process.exit(0));

  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const runtimeDir = process.env.LAMBDA_RUNTIME_DIR || path.dirname(THIS_FILE);
  setUpModulePaths(taskRoot, runtimeDir);
  try {
    process.chdir(taskRoot);
  } catch { /* the server starts us in the task root anyway */ }
  const readOnly = taskRootReadOnly(taskRoot);
  try {
    handler = await loadHandler(taskRoot, process.env._HANDLER ?? '');
  } catch (error) {
    return fatal('Uncaught Exception', error, 129);
  }
  ready = true;
  send('ready', { task_root_read_only: readOnly });
  serveNext();
}

main();
