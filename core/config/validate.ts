/*
 * Validates a YAML value against a schema (TypeBox / JSON Schema, checked by
 * ajv), fills in defaults, converts sizes and durations, and turns every
 * failure into a problem that points into the YAML file.
 */
import { dirname, resolve } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { ConfigProblem } from './errors.js';
import { patternProblem } from './pattern.js';
import { resolveSecret } from './secret.js';
import type { KeyPath, SourceFile } from './source.js';
import { UNIT_EXPECTED, UNIT_PARSERS, type UnitName } from './units.js';

// passContext: keywords see the `this` validate() calls with (where relative secret files start).
const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, strict: false, passContext: true });

/** What keywords learn about the value being validated. */
interface ValidationContext {
  /** Directory of the file the value came from. */
  readonly dir: string;
}

ajv.addKeyword({
  keyword: 'unit',
  modifying: true,
  schemaType: 'string',
  errors: true,
  validate: function unit(this: unknown, schema: UnitName, data: unknown, _parent, cxt) {
    const parsed = UNIT_PARSERS[schema](data);
    const self = unit as unknown as { errors: Partial<ErrorObject>[] | null };
    if (parsed === undefined) {
      self.errors = [{ keyword: 'unit', message: `expected ${UNIT_EXPECTED[schema]}`, params: { unit: schema } }];
      return false;
    }
    if (cxt?.parentData !== undefined && cxt.parentDataProperty !== undefined) {
      (cxt.parentData as Record<string | number, unknown>)[cxt.parentDataProperty] = parsed;
    }
    return true;
  },
});

// Secret(): `{ env: NAME }` / `{ file: path }` become the string they name (see secret.ts).
ajv.addKeyword({
  keyword: 'secret',
  modifying: true,
  schemaType: 'boolean',
  errors: true,
  validate: function secret(this: ValidationContext | undefined, _schema: boolean, data: unknown, _parent, cxt) {
    const self = secret as unknown as { errors: Partial<ErrorObject>[] | null };
    const resolved = resolveSecret(data, this?.dir ?? process.cwd());
    if (!resolved.ok) {
      self.errors = [{ keyword: 'secret', message: resolved.message, params: {} }];
      return false;
    }
    if (cxt?.parentData !== undefined && cxt.parentDataProperty !== undefined) {
      (cxt.parentData as Record<string | number, unknown>)[cxt.parentDataProperty] = resolved.value;
    }
    return true;
  },
});

// Type.String({ format: 'regex' }): a pattern an admin writes in YAML (blacklist entries), checked
// here so a typo, or a construct RE2 lacks, is reported with its file:line:col instead of failing
// later in a plugin's setup. The same check as compilePattern's, which the plugin then uses.
ajv.addFormat('regex', { type: 'string', validate: (s: string) => patternProblem(s) === undefined });

const compiled = new WeakMap<object, ValidateFunction>();

function compile(schema: TSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

function show(value: unknown): string {
  const s = JSON.stringify(value);
  if (s === undefined) return String(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describe(e: ErrorObject): { message: string; key?: string } {
  const got = `, got ${show(e.data)}`;
  switch (e.keyword) {
    case 'additionalProperties': {
      const parent = e.parentSchema as { properties?: object; patternProperties?: object; expectedKey?: string } | undefined;
      const props = Object.keys(parent?.properties ?? {});
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const patterns = Object.keys(parent?.patternProperties ?? {});
      if (!props.length && patterns.length) {
        const expected = parent?.expectedKey ? `expected ${parent.expectedKey}` : 'use letters, digits, "_", "." and "-"';
        return { key, message: `is not a valid name: ${expected}` };
      }
      return { key, message: `unknown key${props.length ? `; expected one of: ${props.join(', ')}` : ''}` };
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      return { key, message: 'is required but missing' };
    }
    case 'enum':
      return {
        message: `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(show).join(', ')}${got}`,
      };
    case 'type':
      return { message: `expected ${(e.params as { type: string }).type}${got}` };
    case 'unit':
      return { message: `${e.message}${got}` };
    case 'secret':
      // Never the value: it may be the secret itself.
      return { message: e.message ?? 'is invalid' };
    case 'pattern': {
      // Schemas say in words what their pattern wants ({ expected: 'a domain ...' }); the regex is for ajv.
      const expected = (e.parentSchema as { expected?: string } | undefined)?.expected;
      return { message: `${expected ? `expected ${expected}` : (e.message ?? 'is invalid')}${got}` };
    }
    case 'format':
      if ((e.params as { format: string }).format === 'regex' && typeof e.data === 'string') {
        return { message: `must be a valid RE2 regular expression: ${patternProblem(e.data)}${got}` };
      }
      return { message: `${e.message ?? 'is invalid'}${got}` };
    default:
      return { message: `${e.message ?? 'is invalid'}${got}` };
  }
}

function describeUnion(e: ErrorObject): string {
  const branches = (e.parentSchema as { anyOf?: { const?: unknown; type?: string }[] } | undefined)?.anyOf ?? [];
  const got = `, got ${show(e.data)}`;
  if (branches.length && branches.every((b) => 'const' in b))
    return `expected one of ${branches.map((b) => show(b.const)).join(', ')}${got}`;
  const types = branches.map((b) => b.type).filter(Boolean);
  return types.length ? `expected ${types.join(' or ')}${got}` : `is invalid${got}`;
}

/**
 * Checks `value` (which came from `source` at `path`) against `schema`. Returns
 * the value with defaults and units applied, or the problems found.
 */
export function validate<T>(
  schema: TSchema,
  value: unknown,
  source: SourceFile,
  path: KeyPath,
  /** Where relative `{ file: path }` secrets start; default: the directory of `source`. */
  dir: string = dirname(resolve(source.file)),
): { ok: true; value: T } | { ok: false; problems: ConfigProblem[] } {
  const fn = compile(schema);
  const holder = { value: value === undefined || value === null ? {} : value };
  const context: ValidationContext = { dir };
  if (fn.call(context, holder.value)) return { ok: true, value: holder.value as T };
  const all = fn.errors ?? [];
  // A union ("reject" | "normalize", string | object) fails as one anyOf plus one error per
  // branch at the same place; say it once, naming the choices.
  const unions = new Map<string, ErrorObject>();
  for (const e of all) if (e.keyword === 'anyOf') unions.set(e.instancePath, e);
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  const add = (p: ConfigProblem) => {
    const id = `${p.key}|${p.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      problems.push(p);
    }
  };
  for (const e of all) {
    const at = [...path, ...pointerToPath(e.instancePath)];
    const union = unions.get(e.instancePath);
    if (union && e !== union && (e.keyword === 'const' || e.keyword === 'type')) continue;
    if (e.keyword === 'anyOf') {
      // A branch of the value's own type failed inside (an unknown key, a bad pattern): that error
      // says what is wrong, and "expected string or object" next to it would only mislead.
      const inside = all.some(
        (b) =>
          b.schemaPath.startsWith(`${e.schemaPath}/`) &&
          (b.instancePath === e.instancePath || b.instancePath.startsWith(`${e.instancePath}/`)) &&
          b.keyword !== 'type' &&
          b.keyword !== 'const',
      );
      if (!inside) add(source.problem(at, describeUnion(e)));
      continue;
    }
    if (e.keyword === 'oneOf' || e.keyword === 'if') continue;
    const { message, key } = describe(e);
    add(source.problem(at, message, key));
  }
  return { ok: false, problems };
}
