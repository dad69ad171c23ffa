/*
 * Compile-time tests of what plugin authors import ('qgate', 'qgate/testing'):
 * this file must compile, and each @ts-expect-error line must be an error (tsc
 * reports one that is not), so the public types can neither break working
 * plugins nor quietly accept wrong ones. It is compiled with the rest of the
 * tree; the same imports in a separate package with declaration: true are
 * built by the third-party test (test/integration/third-party.test.ts).
 */
import {
  accept,
  type DomainSet,
  Duration,
  definePlugin,
  type HookHandler,
  type LifecycleContext,
  type NoteKey,
  next,
  OptionError,
  reject,
  Size,
  type Static,
  type TObject,
  type TString,
  Type,
  tempfail,
  unknownListener,
  Value,
} from 'qgate';
import { type MailResult, type TestPipeline, testPipeline } from 'qgate/testing';

const Options = Type.Object({
  text: Type.String({ default: 'Closed' }),
  limit: Size({ default: '1MB' }),
  wait: Duration({ default: '5s' }),
});

export const typed = definePlugin({
  name: 'typed',
  options: Options,
  setup(ctx, options) {
    const facts: [string, number, number] = [options.text, options.limit, options.wait];
    ctx.log.debug({ facts }, 'options are typed from the schema');
    // @ts-expect-error: the schema has no such key
    ctx.log.debug(options.missing);

    // Lifecycle handlers get { log }.
    ctx.on('init', ({ log }) => log.info('ready'));
    ctx.on('reload', async ({ log }) => {
      log.info('reloaded');
    });
    ctx.on('shutdown', (context: LifecycleContext) => context.log.info('stopped'));
    // @ts-expect-error: a lifecycle handler's argument is { log }, not a number
    ctx.on('init', (x: number) => ctx.log.info(String(x)));
    // @ts-expect-error: lifecycle handlers decide nothing
    ctx.on('shutdown', () => reject(550, '5.7.1', 'no'));

    // @ts-expect-error: there is no such hook
    ctx.on('rcpt-to', () => undefined);

    // ctx.gateway is read-only facts: listener names, local and routed domains.
    const names: readonly string[] = ctx.gateway.listeners.map((l) => `${l.name} ${l.address}:${l.port} ${l.pipeline}`);
    const ours: DomainSet = ctx.gateway.localDomains.union(ctx.gateway.routedDomains);
    if (!ours.has(ctx.gateway.hostname) && names.length) ctx.log.debug(ours.entries(), 'domains');
    if (unknownListener(ctx.gateway, 'smtps')) throw new OptionError(['listeners', 0], 'unknown listener');
    // @ts-expect-error: the gateway's facts cannot be changed by a plugin
    ctx.gateway.hostname = 'forged.test';
    // @ts-expect-error: nor its listeners
    ctx.gateway.listeners.push({ name: 'x', address: '::', port: 25, pipeline: 'p', hostname: 'h' });

    ctx.on('rcpt', (session, transaction, { address, parameters }) => {
      if (session.relayAllowed || transaction.recipients.length > 10 || parameters.has('NOTIFY')) return next();
      return address.domain === 'example.test' ? accept(`${address.domain} is ours`) : undefined;
    });
    // @ts-expect-error: a decision is a result, not a string
    ctx.on('rcpt', () => 'yes');
    ctx.on('mail', (_s, _t, { address }) => (address === null ? next() : undefined));
    // @ts-expect-error: MAIL's address is null for the null sender <>
    ctx.on('mail', (_s, _t, { address }) => (address.domain === 'example.test' ? next() : undefined));

    ctx.on('message', async (_session, transaction, message) => {
      const headers = await message.readHeaders();
      transaction.addHeader('X-Fields', `${headers.length} fields, ${message.size} octets`);
      return next();
    });

    ctx.on('lookupUser', ({ address, domain }) => (domain === 'example.test' ? { address, mailbox: `/srv/${address}` } : null));
    // @ts-expect-error: lookupUser answers a user record, null or undefined
    ctx.on('lookupUser', () => true);
    ctx.on('authenticate', async ({ username }) => ({ ok: username === 'alice', user: username }));
    // @ts-expect-error: authenticate answers a verdict
    ctx.on('authenticate', () => 'alice');

    const seen: NoteKey<number> = ctx.note<number>('seen');
    ctx.on('helo', (session) => {
      session.notes.set(seen, (session.notes.get(seen) ?? 0) + 1);
    });
    // @ts-expect-error: a note keeps the type it was made with
    ctx.on('helo', (session) => session.notes.set(seen, 'one'));
  },
});

// Options' types can be named through 'qgate' (a plugin built with declaration: true needs them).
export const named: TObject<{ text: TString }> = Type.Object({ text: Type.String() });
export type TypedOptions = Static<typeof Options>;
export const limitIsNumber: TypedOptions['limit'] = 1024;
export const valid: boolean = Value.Check(Options, Value.Default(Options, {}));

export const dataHandler: HookHandler<'data'> = (_session, transaction) =>
  transaction.recipients.length > 50 ? tempfail('Too many recipients, try later', 452, '4.5.3') : undefined;

export const refusal = reject(550, '5.7.1', 'Access denied');
// @ts-expect-error: reject needs an enhanced code and a text
export const bare = reject(550);

export async function kit(): Promise<MailResult> {
  const t: TestPipeline = await testPipeline({
    plugins: [
      { plugin: typed, with: { text: 'Open' }, timeout: '1s' },
      { use: 'rcpthosts', with: { domains: ['example.test'] } },
    ],
    listener: { name: 'submission', max_recipients: 5 },
  });
  const result = await t.sendMail({ from: 'a@example.org', to: ['b@example.test'] });
  const codes: number[] = result.rcpt.map((r) => r.code);
  const found = await t.lookupUser('b@example.test');
  const verdict = await t.authenticate({ mechanism: 'PLAIN', username: 'alice', password: 'x' });
  t.logs.filter((l) => l.plugin === 'typed' && codes.length && found !== undefined && verdict?.ok);
  // @ts-expect-error: a plugin entry is a definition or a `use:`, not both missing
  await testPipeline({ plugins: [{ with: {} }] });
  await t.close();
  return result;
}
