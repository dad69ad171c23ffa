/*
 * The pure parts of `qgate plugin new` and `qgate plugin docs`: which names
 * are plugin names, how the template is renamed, and where the options table
 * goes in a README.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replaceOptionsBlock } from '../../core/cli/plugin-docs.js';
import { pluginNames, renderTemplate } from '../../core/cli/scaffold.js';

describe('pluginNames', () => {
  const cases: { input: string; plugin?: string; pkg?: string; why: string }[] = [
    { input: 'header-stamp', plugin: 'header-stamp', pkg: 'qgate-plugin-header-stamp', why: 'a plain name' },
    { input: 'qgate-plugin-header-stamp', plugin: 'header-stamp', pkg: 'qgate-plugin-header-stamp', why: 'the package name' },
    { input: '@acme/qgate-plugin-pg', plugin: 'pg', pkg: '@acme/qgate-plugin-pg', why: 'a scoped package' },
    { input: '@acme/pg', plugin: 'pg', pkg: '@acme/qgate-plugin-pg', why: 'a scope and a plain name' },
    { input: 'x1', plugin: 'x1', pkg: 'qgate-plugin-x1', why: 'digits' },
    { input: 'Header', why: 'upper case is not a package name' },
    { input: 'a b', why: 'space' },
    { input: '../evil', why: 'a path' },
    { input: '-x', why: 'a leading dash' },
    { input: '', why: 'empty' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.input)}: ${c.why}`, () => {
      if (c.plugin === undefined) assert.throws(() => pluginNames(c.input), /is not a plugin name/);
      else assert.deepEqual(pluginNames(c.input), { plugin: c.plugin, package: c.pkg });
    });
  }
});

describe('renderTemplate', () => {
  const files = new Map([
    [
      'package.json',
      JSON.stringify({
        name: 'qgate-plugin-my-plugin',
        devDependencies: { qgate: '^0.1.0' },
        peerDependencies: { qgate: '>=0.1.0' },
      }),
    ],
    ['src/index.ts', "export default definePlugin({ name: 'my-plugin' });"],
    ['test/my-plugin.test.ts', "describe('my-plugin', () => {});"],
    ['gitignore', 'node_modules/\n'],
  ]);
  const out = renderTemplate(files, pluginNames('@acme/stamp'), { spec: 'file:../qgate-0.2.0.tgz', version: '0.2.0' });

  it('renames the package, the plugin and the test file; gitignore becomes .gitignore', () => {
    assert.deepEqual([...out.keys()], ['package.json', 'src/index.ts', 'test/stamp.test.ts', '.gitignore']);
    assert.equal(out.get('src/index.ts'), "export default definePlugin({ name: 'stamp' });");
  });

  it('depends on the given qgate for development and on this version as a peer', () => {
    const manifest = JSON.parse(out.get('package.json')!) as Record<string, Record<string, string>>;
    assert.equal(manifest.name as unknown, '@acme/qgate-plugin-stamp');
    assert.deepEqual(manifest.devDependencies, { qgate: 'file:../qgate-0.2.0.tgz' });
    assert.deepEqual(manifest.peerDependencies, { qgate: '>=0.2.0' });
  });
});

describe('replaceOptionsBlock', () => {
  const table = '| key | default | meaning |\n|---|---|---|\n| `a` | `1` | A. |';
  const cases: { readme: string; out: string; why: string }[] = [
    {
      readme: '# x\n\n<!-- options -->\nold\n<!-- /options -->\nafter\n',
      out: `# x\n\n<!-- options -->\n${table}\n<!-- /options -->\nafter\n`,
      why: 'replaces what is between the markers',
    },
    {
      readme: '<!-- options -->\n<!-- /options -->',
      out: `<!-- options -->\n${table}\n<!-- /options -->`,
      why: 'an empty block',
    },
    {
      readme: '<!-- options:stamp -->\nold\n<!-- /options -->',
      out: `<!-- options:stamp -->\n${table}\n<!-- /options -->`,
      why: "the README's own named markers",
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(replaceOptionsBlock(c.readme, table), c.out));

  it('refuses a README without the markers', () => {
    assert.throws(() => replaceOptionsBlock('# x\n', table), /no <!-- options -->/);
  });
});
