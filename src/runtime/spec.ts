// The check every container start runs on a config.json (the OCI runtime-spec, v1.0 to v1.3,
// whose types are in src/oci/runtime-spec.ts) before anything is planned.
//
// Validation is hand-written rather than schema-driven: it runs on every `create`, it must be
// fast, and its errors must name the JSON path of the offending field in one line
// (`config.json: process.args: must be a non-empty array of strings`).
//
// Unknown keys are never an error, at any depth: a newer spec or an engine's extension may add
// fields. `validateSpec` returns the object it was given, not a copy, so those keys stay on it.
//
// Where the spec leaves something optional but a Linux runtime cannot do without it, berth
// requires it, as runc does: `root` and `process` (with `args` and `cwd`).

import { capabilityNumber } from '../kernel/capabilities.js';
import { RLIMITS, rlimitValue } from './rlimits.js';
import { type Spec, type Process, CAPABILITY_SETS, type Rlimit, HOOK_KINDS, NAMESPACE_TYPES, ROOTFS_PROPAGATIONS } from '../oci/runtime-spec.js';
import { BerthError, type ErrorKind } from '../errors.js';

/** A config that berth refuses, with the file and the JSON path (`linux.namespaces[2].type`) of the field at fault. */
export class SpecError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'SpecError';

  constructor(
    readonly file: string,
    /** JSON path of the field; empty when the fault is the document as a whole. */
    readonly field: string,
    problem: string,
  ) {
    super(field === '' ? `${file}: ${problem}` : `${file}: ${field}: ${problem}`);
  }
}

/** Parse and validate the text of a config.json. */
export function parseSpec(text: string, file = 'config.json'): Spec {
  return validateSpec(parseJson(text, file), file);
}

/** Check a parsed config.json; returns the same object, typed. Throws `SpecError`. */
export function validateSpec(value: unknown, file = 'config.json'): Spec {
  return inFile(file, () => checkSpec(value));
}

/** Parse and validate a process.json, as `exec --process` reads it. */
export function parseProcess(text: string, file = 'process.json'): Process {
  return validateProcess(parseJson(text, file), file);
}

/**
 * Check a process on its own (`exec --process process.json`): field paths are relative to it
 * (`args`, `user.uid`). Within a config.json the same check runs under `process.`.
 */
export function validateProcess(value: unknown, file = 'process.json'): Process {
  return inFile(file, () => checkProcess(value, ''));
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SpecError(file, '', `malformed JSON: ${describeJsonError(text, (error as Error).message)}`);
  }
}

/** V8's message on one line, with the line and column when it gives a position. */
function describeJsonError(text: string, message: string): string {
  const oneLine = message.replace(/\s+/g, ' ');
  const position = /at position (\d+)/.exec(oneLine);
  if (position === null) return oneLine;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${oneLine} (line ${line} column ${column})`;
}

// ---------------------------------------------------------------------------------------------
// The checks. Each takes a value and its JSON path, and throws `Invalid` on the first fault;
// `inFile` turns that into a `SpecError` naming the file.

type JsonObject = Record<string, unknown>;

class Invalid {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {}
}

function invalid(field: string, problem: string): never {
  throw new Invalid(field, problem);
}

function inFile<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof Invalid) throw new SpecError(file, error.field, error.problem);
    throw error;
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The path of a member: `process.args`, or `linux.sysctl["net.ipv4.ip_forward"]` for names that are not identifiers. */
function member(field: string, name: string): string {
  if (!IDENTIFIER.test(name)) return `${field}[${JSON.stringify(name)}]`;
  return field === '' ? name : `${field}.${name}`;
}

function item(field: string, index: number): string {
  return `${field}[${index}]`;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectObject(value: unknown, field: string): JsonObject {
  if (!isObject(value)) invalid(field, `must be an object, got ${jsonType(value)}`);
  return value;
}

function expectArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) invalid(field, `must be an array, got ${jsonType(value)}`);
  return value;
}

function expectString(value: unknown, field: string): string {
  if (typeof value !== 'string') invalid(field, `must be a string, got ${jsonType(value)}`);
  // The kernel takes C strings: a NUL would silently cut a path, an argument or a label short.
  if (value.includes('\0')) invalid(field, 'must not contain a NUL byte');
  return value;
}

function expectBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') invalid(field, `must be true or false, got ${jsonType(value)}`);
  return value;
}

function expectInteger(value: unknown, field: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(field, `must be ${describeRange(min, max)}, got ${typeof value === 'number' ? value : jsonType(value)}`);
  }
  return value;
}

function describeRange(min: number, max: number): string {
  if (max === Infinity) return min === -Infinity ? 'an integer' : `an integer ≥ ${min}`;
  return `an integer from ${min} to ${max}`;
}

function expectPath(value: unknown, field: string): string {
  const path = expectString(value, field);
  if (path === '') invalid(field, 'must not be empty');
  return path;
}

function expectAbsolutePath(value: unknown, field: string): string {
  const path = expectPath(value, field);
  if (!path.startsWith('/')) invalid(field, `must be an absolute path, got ${JSON.stringify(path)}`);
  return path;
}

function expectStrings(value: unknown, field: string): string[] {
  const array = expectArray(value, field);
  array.forEach((entry, index) => expectString(entry, item(field, index)));
  return array as string[];
}

function expectStringMap(value: unknown, field: string): void {
  const map = expectObject(value, field);
  for (const name in map) {
    if (name.includes('\0')) invalid(field, `key ${JSON.stringify(name)} must not contain a NUL byte`);
    expectString(map[name], member(field, name));
  }
}

function expectEach(value: unknown, field: string, check: (entry: unknown, field: string) => void): void {
  expectArray(value, field).forEach((entry, index) => check(entry, item(field, index)));
}

/** Run `check` on `object[name]` when it is present. */
function optional(object: JsonObject, name: string, field: string, check: (value: unknown, field: string) => void): void {
  const value = object[name];
  if (value !== undefined) check(value, member(field, name));
}

function required(object: JsonObject, name: string, field: string, check: (value: unknown, field: string) => void): void {
  const value = object[name];
  if (value === undefined) invalid(member(field, name), 'is required');
  check(value, member(field, name));
}

/** The JSON types of plain fields, for the many small objects whose checks are just that. */
type FieldKind = 'integer' | 'uint' | 'boolean' | 'string' | 'strings';

const CHECK_BY_KIND: Record<FieldKind, (value: unknown, field: string) => void> = {
  integer: (value, field) => expectInteger(value, field),
  uint: (value, field) => expectInteger(value, field, 0),
  boolean: expectBoolean,
  string: expectString,
  strings: expectStrings,
};

function expectFields(value: unknown, field: string, kinds: Record<string, FieldKind>, requiredNames: string[] = []): JsonObject {
  const object = expectObject(value, field);
  for (const name of requiredNames) {
    if (object[name] === undefined) invalid(member(field, name), 'is required');
  }
  for (const name in kinds) optional(object, name, field, CHECK_BY_KIND[kinds[name]]);
  return object;
}

// --- the document -----------------------------------------------------------------------------

function checkSpec(value: unknown): Spec {
  const spec = expectObject(value, '');
  required(spec, 'ociVersion', '', checkOciVersion);
  required(spec, 'root', '', checkRoot);
  optional(spec, 'mounts', '', (mounts, field) => expectEach(mounts, field, checkMount));
  required(spec, 'process', '', checkProcess);
  optional(spec, 'hostname', '', checkHostname);
  optional(spec, 'domainname', '', checkHostname);
  optional(spec, 'annotations', '', expectStringMap);
  optional(spec, 'hooks', '', checkHooks);
  optional(spec, 'linux', '', checkLinux);
  return value as Spec;
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/** Any 1.x: minor versions only add fields, which berth may ignore; a 2.x may change meanings. */
function checkOciVersion(value: unknown, field: string): void {
  const version = expectString(value, field);
  const parts = SEMVER.exec(version);
  if (parts === null) invalid(field, `must be a semantic version such as "1.3.0", got ${JSON.stringify(version)}`);
  if (parts[1] !== '1') invalid(field, `version ${version} is not supported: berth reads runtime-spec 1.x`);
}

function checkRoot(value: unknown, field: string): void {
  const root = expectObject(value, field);
  required(root, 'path', field, expectPath);
  optional(root, 'readonly', field, expectBoolean);
}

function checkMount(value: unknown, field: string): void {
  const mount = expectObject(value, field);
  required(mount, 'destination', field, expectAbsolutePath);
  optional(mount, 'type', field, expectString);
  optional(mount, 'source', field, expectString);
  optional(mount, 'options', field, expectStrings);
  optional(mount, 'uidMappings', field, checkIDMappings);
  optional(mount, 'gidMappings', field, checkIDMappings);
}

/** 4294967295, (u32)-1, means "leave unchanged" to setresuid(2) and chown(2); it is never an id. */
const MAX_ID = 2 ** 32 - 2;

function expectID(value: unknown, field: string): void {
  expectInteger(value, field, 0, MAX_ID);
}

function checkIDMappings(value: unknown, field: string): void {
  expectEach(value, field, (entry, entryField) => {
    const mapping = expectObject(entry, entryField);
    required(mapping, 'containerID', entryField, expectID);
    required(mapping, 'hostID', entryField, expectID);
    required(mapping, 'size', entryField, (size, sizeField) => expectInteger(size, sizeField, 1, MAX_ID + 1));
  });
}

/** HOST_NAME_MAX: sethostname(2) and setdomainname(2) refuse longer names. */
const HOST_NAME_MAX = 64;

function checkHostname(value: unknown, field: string): void {
  const name = expectString(value, field);
  if (Buffer.byteLength(name) > HOST_NAME_MAX) invalid(field, `must be at most ${HOST_NAME_MAX} bytes`);
}

// --- process ----------------------------------------------------------------------------------

function checkProcess(value: unknown, field: string): Process {
  const process = expectObject(value, field);
  required(process, 'args', field, checkArgs);
  required(process, 'cwd', field, expectAbsolutePath);
  optional(process, 'env', field, checkEnv);
  optional(process, 'terminal', field, expectBoolean);
  optional(process, 'consoleSize', field, (size, sizeField) =>
    expectFields(size, sizeField, { height: 'uint', width: 'uint' }, ['height', 'width']),
  );
  optional(process, 'user', field, checkUser);
  optional(process, 'commandLine', field, expectString);
  optional(process, 'capabilities', field, checkCapabilities);
  optional(process, 'rlimits', field, checkRlimits);
  optional(process, 'noNewPrivileges', field, expectBoolean);
  optional(process, 'apparmorProfile', field, expectString);
  // The kernel's range for /proc/PID/oom_score_adj.
  optional(process, 'oomScoreAdj', field, (score, scoreField) => expectInteger(score, scoreField, -1000, 1000));
  optional(process, 'selinuxLabel', field, expectString);
  optional(process, 'scheduler', field, checkScheduler);
  optional(process, 'ioPriority', field, checkIOPriority);
  optional(process, 'execCPUAffinity', field, checkExecCPUAffinity);
  return value as Process;
}

function checkArgs(value: unknown, field: string): void {
  if (!Array.isArray(value) || value.length === 0) invalid(field, 'must be a non-empty array of strings');
  expectStrings(value, field);
}

function checkEnv(value: unknown, field: string): void {
  expectStrings(value, field).forEach((entry, index) => {
    if (entry.indexOf('=') <= 0) invalid(item(field, index), `must be NAME=value, got ${JSON.stringify(entry)}`);
  });
}

function checkUser(value: unknown, field: string): void {
  const user = expectObject(value, field);
  required(user, 'uid', field, expectID);
  required(user, 'gid', field, expectID);
  optional(user, 'umask', field, (umask, umaskField) => expectInteger(umask, umaskField, 0, 0o777));
  optional(user, 'additionalGids', field, (gids, gidsField) => expectEach(gids, gidsField, expectID));
  optional(user, 'username', field, expectString);
}

const CAPABILITY_NAME = /^CAP_[A-Z_]+$/;

function checkCapabilities(value: unknown, field: string): void {
  const capabilities = expectObject(value, field);
  for (const set of CAPABILITY_SETS) optional(capabilities, set, field, checkCapabilityNames);
}

function checkCapabilityNames(value: unknown, field: string): void {
  expectStrings(value, field).forEach((name, index) => {
    if (!CAPABILITY_NAME.test(name)) {
      invalid(item(field, index), `must be a capability name such as "CAP_KILL", got ${JSON.stringify(name)}`);
    }
    if (capabilityNumber(name) === undefined) invalid(item(field, index), `unknown capability ${name}`);
  });
}

const RLIMIT_NAME = /^RLIMIT_[A-Z]+$/;

/** Each limit once (the spec requires an error on duplicates), soft ≤ hard. */
function checkRlimits(value: unknown, field: string): void {
  const seen = new Set<string>();
  expectEach(value, field, (entry, entryField) => {
    const rlimit = expectObject(entry, entryField);
    required(rlimit, 'type', entryField, checkRlimitType);
    required(rlimit, 'soft', entryField, CHECK_BY_KIND.uint);
    required(rlimit, 'hard', entryField, CHECK_BY_KIND.uint);
    const { type, soft, hard } = rlimit as unknown as Rlimit;
    if (seen.has(type)) invalid(member(entryField, 'type'), `${type} is set twice`);
    seen.add(type);
    if (rlimitValue(soft) > rlimitValue(hard)) invalid(member(entryField, 'soft'), `must not exceed hard (${soft} > ${hard})`);
  });
}

function checkRlimitType(value: unknown, field: string): void {
  const type = expectString(value, field);
  if (!RLIMIT_NAME.test(type)) invalid(field, `must be a limit name such as "RLIMIT_NOFILE", got ${JSON.stringify(type)}`);
  if (!Object.hasOwn(RLIMITS, type)) invalid(field, `unknown resource limit ${type}`);
}

function checkScheduler(value: unknown, field: string): void {
  expectFields(
    value,
    field,
    { policy: 'string', nice: 'integer', priority: 'integer', flags: 'strings', runtime: 'uint', deadline: 'uint', period: 'uint' },
    ['policy'],
  );
}

const IOPRIO_CLASSES: readonly string[] = ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'];

function checkIOPriority(value: unknown, field: string): void {
  const priority = expectFields(value, field, { class: 'string', priority: 'integer' }, ['class']);
  if (!IOPRIO_CLASSES.includes(priority['class'] as string)) {
    invalid(member(field, 'class'), `must be one of ${IOPRIO_CLASSES.join(', ')}, got ${JSON.stringify(priority['class'])}`);
  }
}

/** A cpuset list: `0-3,7`. */
const CPU_LIST = /^[0-9, -]*$/;

function checkExecCPUAffinity(value: unknown, field: string): void {
  const affinity = expectObject(value, field);
  for (const stage of ['initial', 'final']) {
    optional(affinity, stage, field, (list, listField) => {
      if (!CPU_LIST.test(expectString(list, listField))) invalid(listField, `must be a CPU list such as "0-3,7", got ${JSON.stringify(list)}`);
    });
  }
}

// --- hooks ------------------------------------------------------------------------------------

function checkHooks(value: unknown, field: string): void {
  const hooks = expectObject(value, field);
  for (const kind of HOOK_KINDS) optional(hooks, kind, field, (list, listField) => expectEach(list, listField, checkHook));
}

function checkHook(value: unknown, field: string): void {
  const hook = expectObject(value, field);
  required(hook, 'path', field, expectAbsolutePath);
  optional(hook, 'args', field, expectStrings);
  optional(hook, 'env', field, checkEnv);
  optional(hook, 'timeout', field, (timeout, timeoutField) => expectInteger(timeout, timeoutField, 1));
}

// --- linux ------------------------------------------------------------------------------------

function checkLinux(value: unknown, field: string): void {
  const linux = expectObject(value, field);
  optional(linux, 'namespaces', field, checkNamespaces);
  optional(linux, 'uidMappings', field, checkIDMappings);
  optional(linux, 'gidMappings', field, checkIDMappings);
  optional(linux, 'timeOffsets', field, checkTimeOffsets);
  optional(linux, 'devices', field, (devices, devicesField) => expectEach(devices, devicesField, checkDevice));
  optional(linux, 'cgroupsPath', field, expectString);
  optional(linux, 'resources', field, checkResources);
  optional(linux, 'rootfsPropagation', field, checkRootfsPropagation);
  optional(linux, 'seccomp', field, checkSeccomp);
  optional(linux, 'sysctl', field, expectStringMap);
  optional(linux, 'maskedPaths', field, (paths, pathsField) => expectEach(paths, pathsField, expectAbsolutePath));
  optional(linux, 'readonlyPaths', field, (paths, pathsField) => expectEach(paths, pathsField, expectAbsolutePath));
  optional(linux, 'mountLabel', field, expectString);
  optional(linux, 'intelRdt', field, (rdt, rdtField) =>
    expectFields(rdt, rdtField, { closID: 'string', l3CacheSchema: 'string', memBwSchema: 'string', schemata: 'strings', enableMonitoring: 'boolean' }),
  );
  optional(linux, 'personality', field, checkPersonality);
}

const NAMESPACE_TYPE_LIST: readonly string[] = NAMESPACE_TYPES;

/** Each type at most once: two entries for one type cannot both be the container's. */
function checkNamespaces(value: unknown, field: string): void {
  const firstByType = new Map<string, string>();
  expectEach(value, field, (entry, entryField) => {
    const namespace = expectObject(entry, entryField);
    const typeField = member(entryField, 'type');
    required(namespace, 'type', entryField, expectString);
    const type = namespace['type'] as string;
    if (!NAMESPACE_TYPE_LIST.includes(type)) {
      invalid(typeField, `unknown namespace type ${JSON.stringify(type)} (known: ${NAMESPACE_TYPES.join(', ')})`);
    }
    const first = firstByType.get(type);
    if (first !== undefined) invalid(typeField, `namespace ${type} is already listed at ${first}`);
    firstByType.set(type, entryField);
    optional(namespace, 'path', entryField, expectAbsolutePath);
  });
}

function checkTimeOffsets(value: unknown, field: string): void {
  const offsets = expectObject(value, field);
  for (const clock of ['boottime', 'monotonic']) {
    optional(offsets, clock, field, (offset, offsetField) => {
      const object = expectFields(offset, offsetField, { secs: 'integer' });
      optional(object, 'nanosecs', offsetField, (nanosecs, nanosecsField) => expectInteger(nanosecs, nanosecsField, 0, 999_999_999));
    });
  }
}

const DEVICE_TYPES: readonly string[] = ['c', 'b', 'u', 'p'];

function checkDevice(value: unknown, field: string): void {
  const device = expectObject(value, field);
  required(device, 'type', field, (type, typeField) => {
    if (!DEVICE_TYPES.includes(expectString(type, typeField))) invalid(typeField, `must be one of c, b, u, p, got ${JSON.stringify(type)}`);
  });
  required(device, 'path', field, expectAbsolutePath);
  // A FIFO has no device number; every other node needs both halves for mknod(2).
  const numbered = device['type'] === 'p' ? optional : required;
  numbered(device, 'major', field, CHECK_BY_KIND.uint);
  numbered(device, 'minor', field, CHECK_BY_KIND.uint);
  optional(device, 'fileMode', field, (mode, modeField) => expectInteger(mode, modeField, 0, 0o777));
  optional(device, 'uid', field, expectID);
  optional(device, 'gid', field, expectID);
}

function checkRootfsPropagation(value: unknown, field: string): void {
  const propagation = expectString(value, field);
  if (!(ROOTFS_PROPAGATIONS as readonly string[]).includes(propagation)) {
    invalid(field, `must be one of ${ROOTFS_PROPAGATIONS.join(', ')}, got ${JSON.stringify(propagation)}`);
  }
}

function checkPersonality(value: unknown, field: string): void {
  const personality = expectFields(value, field, { domain: 'string', flags: 'strings' });
  const domain = personality['domain'];
  if (domain !== undefined && domain !== 'LINUX' && domain !== 'LINUX32') {
    invalid(member(field, 'domain'), `must be LINUX or LINUX32, got ${JSON.stringify(domain)}`);
  }
}

function checkResources(value: unknown, field: string): void {
  const resources = expectObject(value, field);
  optional(resources, 'devices', field, (rules, rulesField) =>
    expectEach(rules, rulesField, (rule, ruleField) =>
      expectFields(rule, ruleField, { allow: 'boolean', type: 'string', major: 'integer', minor: 'integer', access: 'string' }, ['allow']),
    ),
  );
  optional(resources, 'memory', field, (memory, memoryField) =>
    expectFields(memory, memoryField, {
      limit: 'integer',
      reservation: 'integer',
      swap: 'integer',
      kernel: 'integer',
      kernelTCP: 'integer',
      swappiness: 'uint',
      disableOOMKiller: 'boolean',
      useHierarchy: 'boolean',
      checkBeforeUpdate: 'boolean',
    }),
  );
  optional(resources, 'cpu', field, (cpu, cpuField) =>
    expectFields(cpu, cpuField, {
      shares: 'uint',
      quota: 'integer',
      burst: 'uint',
      period: 'uint',
      realtimeRuntime: 'integer',
      realtimePeriod: 'uint',
      cpus: 'string',
      mems: 'string',
      idle: 'integer',
    }),
  );
  optional(resources, 'pids', field, (pids, pidsField) => expectFields(pids, pidsField, { limit: 'integer' }, ['limit']));
  optional(resources, 'blockIO', field, checkBlockIO);
  optional(resources, 'hugepageLimits', field, (limits, limitsField) =>
    expectEach(limits, limitsField, (limit, limitField) =>
      expectFields(limit, limitField, { pageSize: 'string', limit: 'uint' }, ['pageSize', 'limit']),
    ),
  );
  optional(resources, 'network', field, checkNetworkResources);
  optional(resources, 'rdma', field, (rdma, rdmaField) => {
    const devices = expectObject(rdma, rdmaField);
    for (const name in devices) expectFields(devices[name], member(rdmaField, name), { hcaHandles: 'uint', hcaObjects: 'uint' });
  });
  optional(resources, 'unified', field, expectStringMap);
}

const BLOCK_IO_DEVICE_LISTS = [
  'weightDevice',
  'throttleReadBpsDevice',
  'throttleWriteBpsDevice',
  'throttleReadIOPSDevice',
  'throttleWriteIOPSDevice',
] as const;

function checkBlockIO(value: unknown, field: string): void {
  const blockIO = expectFields(value, field, { weight: 'uint', leafWeight: 'uint' });
  for (const list of BLOCK_IO_DEVICE_LISTS) {
    optional(blockIO, list, field, (devices, devicesField) =>
      expectEach(devices, devicesField, (device, deviceField) =>
        expectFields(device, deviceField, { major: 'integer', minor: 'integer', weight: 'uint', leafWeight: 'uint', rate: 'uint' }, ['major', 'minor']),
      ),
    );
  }
}

function checkNetworkResources(value: unknown, field: string): void {
  const network = expectFields(value, field, { classID: 'uint' });
  optional(network, 'priorities', field, (priorities, prioritiesField) =>
    expectEach(priorities, prioritiesField, (priority, priorityField) =>
      expectFields(priority, priorityField, { name: 'string', priority: 'uint' }, ['name', 'priority']),
    ),
  );
}

function checkSeccomp(value: unknown, field: string): void {
  const seccomp = expectFields(
    value,
    field,
    { defaultAction: 'string', defaultErrnoRet: 'uint', architectures: 'strings', flags: 'strings', listenerPath: 'string', listenerMetadata: 'string' },
    ['defaultAction'],
  );
  optional(seccomp, 'syscalls', field, (rules, rulesField) => expectEach(rules, rulesField, checkSeccompRule));
}

function checkSeccompRule(value: unknown, field: string): void {
  const rule = expectFields(value, field, { action: 'string', errnoRet: 'uint' }, ['action']);
  required(rule, 'names', field, (names, namesField) => {
    if (expectStrings(names, namesField).length === 0) invalid(namesField, 'must name at least one syscall');
  });
  optional(rule, 'args', field, (args, argsField) =>
    expectEach(args, argsField, (arg, argField) =>
      expectFields(arg, argField, { index: 'uint', value: 'uint', valueTwo: 'uint', op: 'string' }, ['index', 'value', 'op']),
    ),
  );
}
