// Validation against the official OCI image-spec JSON schemas (v1.1.1) in ../shared/oci-schemas/,
// for the index, manifests, configs and oci-layout files berth writes.
//
// Like the runtime schemas (oci-schema.ts), these are draft-04 (ajv-draft-04). They `$ref` each
// other by file name, but each also has an `id` URI (https://opencontainers.org/schema/...) that
// would make Ajv resolve those names against opencontainers.org, where the sibling files are not
// registered. So the `id`s are dropped in memory and every file is added under its own name, and
// the two formats they use (date-time, uri) are given simple checks. The folder is part of the test
// setup (CI has it beside the project): without it a validation fails, naming the folder.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ajvDraft04 from 'ajv-draft-04';
import { SHARED } from './shared-dir.js';

const Ajv = ajvDraft04.default;
type Ajv = InstanceType<typeof Ajv>;

const IMAGE_SCHEMA_DIR = join(SHARED, 'oci-schemas/image-spec-v1.1.1/');

export type ImageSchemaName = 'image-index-schema' | 'image-manifest-schema' | 'config-schema' | 'image-layout-schema' | 'content-descriptor';

let ajv: Ajv | undefined;

/** Drops every string `id` (the schemas' own URIs), keeping a property that happens to be named id. */
function withoutIds(node: unknown, underProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => withoutIds(n));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'id' && typeof value === 'string' && !underProperties) continue;
    out[key] = withoutIds(value, key === 'properties' || key === 'patternProperties');
  }
  return out;
}

// RFC 3339 date-time, as Go's time.Time marshals it (fractional seconds, Z or an offset).
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function loadSchemas(): Ajv {
  if (ajv !== undefined) return ajv;
  if (!existsSync(IMAGE_SCHEMA_DIR)) throw new Error(`the OCI image-spec schemas are not at ${IMAGE_SCHEMA_DIR} (../shared/oci-schemas beside the project)`);
  ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('date-time', DATE_TIME);
  ajv.addFormat('uri', (value: string) => {
    try {
      new URL(value);
      return true;
    } catch {
      return false;
    }
  });
  for (const name of readdirSync(IMAGE_SCHEMA_DIR).filter((file) => file.endsWith('.json'))) {
    const schema: unknown = JSON.parse(readFileSync(IMAGE_SCHEMA_DIR + name, 'utf8'));
    ajv.addSchema(withoutIds(schema) as object, name);
  }
  return ajv;
}

/** Schema errors as `instancePath: message` lines; empty when `value` is valid. */
export function validateAgainstImageSchema(name: ImageSchemaName, value: unknown): string[] {
  const validate = loadSchemas().getSchema(`${name}.json`);
  if (validate === undefined) throw new Error(`no schema ${name}.json in ${IMAGE_SCHEMA_DIR}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath || '/'}: ${error.message ?? 'invalid'}`);
}
