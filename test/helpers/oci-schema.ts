// Validation against the official OCI runtime-spec JSON schemas in ../shared/oci-schemas/, for
// tests of every config.json, state.json and features document berth writes.
//
// The schemas are draft-04, which Ajv 8 supports only through `ajv-draft-04`. They `$ref` each
// other by file name (`defs.json#/definitions/uint32`), so every file of the folder is added
// under its own name. The folder is part of the test setup (CI has it beside the project): without
// it a validation fails, naming the folder, rather than being skipped.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ajvDraft04 from 'ajv-draft-04';
import { SHARED } from './shared-dir.js';

// The package is CommonJS: under NodeNext its default import is `module.exports`, whose
// `default` is the Ajv class (both in its typings and at run time).
const Ajv = ajvDraft04.default;
type Ajv = InstanceType<typeof Ajv>;

const RUNTIME_SCHEMA_DIR = join(SHARED, 'oci-schemas/runtime-spec-v1.3.0/');

export type RuntimeSchemaName = 'config' | 'state' | 'features';

let ajv: Ajv | undefined;

function loadSchemas(): Ajv {
  if (ajv !== undefined) return ajv;
  if (!existsSync(RUNTIME_SCHEMA_DIR)) throw new Error(`the OCI runtime-spec schemas are not at ${RUNTIME_SCHEMA_DIR} (../shared/oci-schemas beside the project)`);
  // strict: false: the schemas use draft-04 forms (e.g. `type` beside `$ref`) that Ajv's strict mode rejects.
  ajv = new Ajv({ allErrors: true, strict: false });
  for (const name of readdirSync(RUNTIME_SCHEMA_DIR).filter((file) => file.endsWith('.json'))) {
    const schema: unknown = JSON.parse(readFileSync(RUNTIME_SCHEMA_DIR + name, 'utf8'));
    ajv.addSchema(repairFragmentRefs(schema) as object, name);
  }
  return ajv;
}

/**
 * runtime-spec v1.3.0's defs.json has `"$ref": "#definitions/uint32"` (ArrayOfUint32, used by
 * config-vm.json): a fragment without its leading slash, which is not a JSON pointer, so Ajv
 * cannot compile config-schema.json. The meaning is plain; restore the slash in memory.
 */
function repairFragmentRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(repairFragmentRefs);
  if (typeof node !== 'object' || node === null) return node;
  const repaired: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    repaired[key] = key === '$ref' && typeof value === 'string' ? value.replace(/#(?!\/|$)/, '#/') : repairFragmentRefs(value);
  }
  return repaired;
}

/** Schema errors as `instancePath: message` lines; empty when `value` is valid. */
export function validateAgainstRuntimeSchema(name: RuntimeSchemaName, value: unknown): string[] {
  const validate = loadSchemas().getSchema(`${name}-schema.json`);
  if (validate === undefined) throw new Error(`no schema ${name}-schema.json in ${RUNTIME_SCHEMA_DIR}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath || '/'}: ${error.message ?? 'invalid'}`);
}
