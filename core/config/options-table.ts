/*
 * Renders an options schema as the Markdown table the README shows, so the
 * README's tables can be checked against the schemas (test/unit/readme.test.ts)
 * and never drift from them.
 */
import type { TSchema } from '@sinclair/typebox';

interface ObjectSchema {
  readonly properties: Record<string, TSchema & { default?: unknown; description?: string }>;
  readonly required?: readonly string[];
}

export function optionsTable(schema: TSchema, prefix = '', omit: readonly string[] = []): string {
  const { properties, required = [] } = schema as unknown as ObjectSchema;
  const rows = ['| key | default | meaning |', '|---|---|---|'];
  for (const [key, prop] of Object.entries(properties)) {
    if (omit.includes(key)) continue;
    const fallback = required.includes(key) ? '(required)' : '-';
    const def = prop.default === undefined ? fallback : `\`${JSON.stringify(prop.default)}\``;
    rows.push(`| \`${prefix}${key}\` | ${def} | ${(prop.description ?? '').replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n');
}
