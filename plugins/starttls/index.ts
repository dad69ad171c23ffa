/*
 * starttls: TLS for SMTP sessions. Offers STARTTLS (RFC 3207) on plain
 * listeners and starts TLS before the greeting on implicit-TLS listeners
 * (RFC 8314, port 465); answers the tls hook with the same certificates for
 * POP3 listeners (STLS, port 995). The switch itself, with the discarding of pipelined
 * plaintext and the state reset, is the engine's (session.startTls); this
 * plugin owns the certificates, their reload on SIGHUP and the verb's replies.
 */
import { accept, definePlugin, next, OptionError, reject, reply, unknownListener } from '../../core/plugin-api/index.js';
import { type CertificateSet, ensureSelfSigned, loadCertificates } from './certificates.js';
import { StarttlsOptions } from './options.js';

export default definePlugin({
  name: 'starttls',
  description: 'STARTTLS and implicit TLS, with certificates reloaded on SIGHUP.',
  options: StarttlsOptions,
  setup(ctx, options) {
    if (!options.cert !== !options.key) throw new Error('starttls: give both cert and key, or neither');
    if (!options.cert && !options.generate) throw new Error('starttls needs cert and key (or generate)');
    // A misspelt listener would leave port 465 waiting for a plaintext greeting that never comes.
    const problems = options.implicit_listeners.flatMap((name, index) => {
      const problem = unknownListener(ctx.gateway, name);
      return problem ? [{ path: ['implicit_listeners', index], message: problem }] : [];
    });
    if (problems.length) throw new OptionError(problems);
    // Configured files are checked now (so `qgate check config` finds a bad one); a
    // self-signed certificate is made at start-up only, never by a check.
    let certificates: CertificateSet | undefined = options.cert ? loadCertificates(options, ctx.resolvePath) : undefined;
    const implicit = new Set(options.implicit_listeners);

    ctx.on('init', async () => {
      if (certificates) return;
      const file = ctx.resolvePath(options.generate!);
      if (await ensureSelfSigned(file)) {
        ctx.log.warn({ file }, 'generated a self-signed TLS certificate; configure cert and key for production');
      }
      certificates = loadCertificates(options, ctx.resolvePath);
    });

    ctx.on('reload', () => {
      try {
        certificates = loadCertificates(options, ctx.resolvePath);
        ctx.log.info({ sni: certificates.names }, 'TLS certificates reloaded');
      } catch (err) {
        ctx.log.error({ err }, 'TLS certificate reload failed; keeping the previous certificates');
      }
    });

    ctx.on('connect', (session) => {
      if (implicit.has(session.listener)) session.startTls(certificates!.socketOptions);
      return next();
    });

    // The same certificates for POP3 (STLS, RFC 2595; implicit on 995): listed in implicit_listeners or not.
    ctx.on('tls', ({ listener }) => ({ options: certificates!.socketOptions, implicit: implicit.has(listener) }));

    ctx.on('capabilities', (session, capabilities) => {
      if (!session.tls) capabilities.add('STARTTLS');
    });

    ctx.on('command', (session, { verb, argument }) => {
      if (verb !== 'STARTTLS') return next();
      if (argument) return reject(501, '5.5.4', 'Syntax: STARTTLS', 'STARTTLS with an argument');
      if (session.tls) return reject(503, '5.5.1', 'Error: TLS already active', 'STARTTLS twice');
      session.startTls(certificates!.socketOptions);
      return accept('starting TLS', reply(220, '2.0.0', 'Ready to start TLS'));
    });

    if (options.required) {
      ctx.on('mail', (session) => {
        if (session.tls) return next();
        return reject(530, '5.7.0', 'Must issue a STARTTLS command first', 'MAIL before STARTTLS (required)');
      });
    }
  },
});
