// Validation against Docker's own API definition: the swagger.yaml (v1.41) that Debian installs
// with golang-github-docker-docker-dev. Its YAML is read with python3's yaml (Debian's, which
// docker-compose needs anyway) into JSON once; its definitions are draft-04 JSON schemas with
// swagger's extensions, of which `x-nullable` (null allowed) is the one that changes validation.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import ajvDraft04 from 'ajv-draft-04';

const Ajv = ajvDraft04.default;
type Ajv = InstanceType<typeof Ajv>;

export const DOCKER_SWAGGER = '/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml';
export const SWAGGER_MISSING_REASON = `${DOCKER_SWAGGER} not found (apt-get install golang-github-docker-docker-dev)`;

export function swaggerAvailable(): boolean {
  return existsSync(DOCKER_SWAGGER);
}

type Schema = Record<string, unknown>;
let loaded: { ajv: Ajv; swagger: Schema } | undefined;

/** `x-nullable: true` as JSON schema says it: the type, or null. */
function nullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullable);
  if (typeof node !== 'object' || node === null) return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) out[k] = nullable(v);
  if (out['x-nullable'] === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (out.$ref) return { anyOf: [{ $ref: out.$ref }, { type: 'null' }] };
  }
  return out;
}

function load(): { ajv: Ajv; swagger: Schema } {
  if (loaded) return loaded;
  const json = execFileSync('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)', DOCKER_SWAGGER], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const swagger = nullable(JSON.parse(json)) as Schema;
  // The swagger's formats (int64, dateTime, CIDR...) are its own names: not checked.
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });
  ajv.addSchema({ id: 'docker', definitions: swagger.definitions as Schema }, 'docker');
  loaded = { ajv, swagger };
  return loaded;
}

function check(schema: Schema, value: unknown): string[] {
  const { ajv } = load();
  const validate = ajv.compile(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

/** Errors of `value` against a definition of the swagger (`SystemInfo`, `ContainerSummary`...); none when it conforms. */
export function validateDefinition(name: string, value: unknown): string[] {
  return check({ $ref: `docker#/definitions/${name}` }, value);
}

/** Errors of an answer against the schema a path of the swagger gives for a status (`/containers/{id}/json`, get, 200). */
export function validateResponse(path: string, method: string, status: number, value: unknown): string[] {
  const { swagger } = load();
  const op = ((swagger.paths as Schema)[path] as Schema | undefined)?.[method] as Schema | undefined;
  const schema = ((op?.responses as Schema | undefined)?.[String(status)] as Schema | undefined)?.schema as Schema | undefined;
  if (!schema) return [`the swagger has no schema for ${method} ${path} ${status}`];
  const rewritten = JSON.parse(JSON.stringify(schema).replace(/"#\/definitions\//g, '"docker#/definitions/')) as Schema;
  return check(rewritten, value);
}
