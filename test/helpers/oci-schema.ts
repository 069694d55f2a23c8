// Validation against the official OCI runtime-spec JSON schemas in ../shared/oci-schemas/, for
// tests of every config.json, state.json and features document berth writes.
//
// The schemas are draft-04, which Ajv 8 supports only through `ajv-draft-04`. They `$ref` each
// other by file name (`defs.json#/definitions/uint32`), so every file of the folder is added
// under its own name. A fresh clone may not have the folder: tests then skip, saying why
// (`schemasAvailable()`).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ajvDraft04 from 'ajv-draft-04';

// The package is CommonJS: under NodeNext its default import is `module.exports`, whose
// `default` is the Ajv class (both in its typings and at run time).
const Ajv = ajvDraft04.default;
type Ajv = InstanceType<typeof Ajv>;

/** This file runs from dist/test/helpers/, three levels below the project root; ../shared is beside the project. */
const RUNTIME_SCHEMA_DIR = fileURLToPath(new URL('../../../../shared/oci-schemas/runtime-spec-v1.3.0/', import.meta.url));

export const SCHEMAS_MISSING_REASON = `OCI schemas not found at ${RUNTIME_SCHEMA_DIR}`;

export type RuntimeSchemaName = 'config' | 'state' | 'features';

export function schemasAvailable(): boolean {
  return existsSync(RUNTIME_SCHEMA_DIR);
}

let ajv: Ajv | undefined;

function loadSchemas(): Ajv {
  if (ajv !== undefined) return ajv;
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
