/*
 * auth: SMTP AUTH (RFC 4954) with PLAIN, LOGIN and CRAM-MD5. Credentials are
 * checked through the directory hooks (ctx.users), so any directory plugin
 * (file-users, LDAP, SQL) serves. An authenticated session may relay.
 * Failed attempts are throttled per client address (checks in flight count,
 * throttle.ts) and logged without the password. By default AUTH is only
 * offered inside TLS.
 */
import {
  type AuthVerdict,
  accept,
  type Credentials,
  definePlugin,
  disconnect,
  FailureThrottle,
  next,
  reject,
  reply,
  type Session,
} from '../../core/plugin-api/index.js';
import { AuthOptions } from './options.js';
import { type Ask, cramChallenge, cramMd5, login, plain, type SaslOutcome } from './sasl.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export default definePlugin({
  name: 'auth',
  description: 'SMTP AUTH PLAIN, LOGIN and CRAM-MD5 against the directory plugins.',
  options: AuthOptions,
  setup(ctx, options) {
    const offered = new Set<string>(options.mechanisms);
    const throttle = new FailureThrottle(options.max_failures, options.failure_window);
    const mayAuth = (session: Session) => session.tls !== undefined || !options.require_tls;
    // RFC 4954 5: MAIL FROM's AUTH= parameter must be accepted where AUTH is offered.
    ctx.acceptParameter('MAIL', 'AUTH');

    ctx.on('capabilities', (session, capabilities) => {
      if (mayAuth(session)) capabilities.add(`AUTH ${options.mechanisms.join(' ')}`);
    });

    const exchange = async (session: Session, mechanism: string, initial: string | undefined): Promise<SaslOutcome> => {
      const ask: Ask = (challenge) => session.exchange(reply(334, undefined, challenge));
      if (mechanism === 'PLAIN') return plain(initial, ask);
      if (mechanism === 'LOGIN') return login(initial, ask);
      return cramMd5(initial, ask, cramChallenge(session.hostname));
    };

    /**
     * The directories' verdict; a directory that cannot answer (DirectoryUnavailable) is a
     * failure, 454 4.7.0. Good credentials of a disabled account (a directory whose
     * authenticate checks only the password, as an LDAP bind does) are a bad verdict.
     */
    const check = async (credentials: Credentials): Promise<{ verdict?: AuthVerdict; failure?: Error }> => {
      try {
        const verdict = await ctx.users.authenticate(credentials);
        if (!verdict?.ok) return verdict ? { verdict } : {};
        const record = await ctx.users.lookup(verdict.user ?? credentials.username);
        return record?.enabled === false ? { verdict: { ok: false } } : { verdict };
      } catch (err) {
        return { failure: err as Error };
      }
    };

    ctx.on('command', async (session, { verb, argument }) => {
      if (verb !== 'AUTH') return next();
      const client = session.remote.address;
      if (session.authenticatedUser !== undefined) {
        return reject(503, '5.5.1', 'Error: already authenticated', 'AUTH twice');
      }
      if (session.transaction) return reject(503, '5.5.1', 'Error: MAIL transaction in progress', 'AUTH inside a transaction');
      if (!mayAuth(session)) {
        return reject(538, '5.7.11', 'Encryption required for requested authentication mechanism', 'AUTH before STARTTLS');
      }
      const [rawMechanism = '', initial, extra] = argument.split(' ');
      const mechanism = rawMechanism.toUpperCase();
      if (!mechanism || extra !== undefined) return reject(501, '5.5.4', 'Syntax: AUTH mechanism [initial-response]');
      if (!offered.has(mechanism)) {
        return reject(504, '5.5.4', 'Unrecognized authentication type', `mechanism ${mechanism} not offered`);
      }
      const throttled = () => {
        const { failures, inFlight } = throttle.load(client);
        const why = `client ${client} is throttled (${failures} failures, ${inFlight} checks in flight)`;
        return disconnect('Error: too many authentication failures', 421, '4.7.0', why);
      };
      if (throttle.blocked(client)) return throttled();

      let outcome: SaslOutcome;
      try {
        outcome = await exchange(session, mechanism, initial);
      } catch (err) {
        // An over-long response (RFC 4954 4: 500 5.5.6), or the client went away mid-exchange.
        const why = (err as Error).message;
        return reject(500, '5.5.6', 'Authentication Exchange line is too long', `AUTH exchange broken off: ${why}`);
      }
      if (outcome.kind === 'cancelled') return reject(501, '5.0.0', 'Authentication cancelled', 'client cancelled AUTH');
      if (outcome.kind === 'malformed') {
        return reject(501, '5.5.2', 'Error: cannot decode response', `AUTH ${mechanism}: ${outcome.why}`);
      }

      const { username } = outcome.credentials;
      // The slot is taken before the directory is asked: parallel connections from one
      // address get no more password checks between them than max_failures.
      const attempt = throttle.reserve(client);
      if (!attempt) return throttled();
      try {
        const { verdict, failure } = await check({ ...outcome.credentials, service: 'smtp' });
        if (failure) {
          return reject(454, '4.7.0', 'Temporary authentication failure', `directory failed: ${failure.message}`);
        }
        if (verdict?.ok) {
          attempt.succeed(username);
          session.authenticatedUser = verdict.user ?? username;
          if (options.relay) session.relayAllowed = true;
          ctx.log.info({ client, user: session.authenticatedUser, mechanism }, 'authenticated');
          return accept(
            `authenticated ${session.authenticatedUser} (${mechanism})`,
            reply(235, '2.7.0', 'Authentication successful'),
          );
        }
        const failures = attempt.fail(username);
        ctx.log.warn({ client, user: username, mechanism, failures }, 'authentication failed');
        if (failures >= options.max_failures) {
          return disconnect(
            'Error: too many authentication failures',
            421,
            '4.7.0',
            `authentication failed for ${username} (${mechanism}); ${failures} failures from ${client}`,
          );
        }
        await sleep(Math.min(options.failure_delay * failures, 10_000));
        return reject(
          535,
          '5.7.8',
          'Error: authentication failed',
          `authentication failed for ${username} (${mechanism}, ${verdict ? 'bad credentials' : 'unknown user'})`,
        );
      } finally {
        // A check that did not happen (the directory failed) counts for nothing.
        attempt.release();
      }
    });

    if (options.required) {
      ctx.on('mail', (session) => {
        if (session.authenticatedUser !== undefined) return next();
        return reject(530, '5.7.0', 'Authentication required', 'MAIL before AUTH (required)');
      });
    }
  },
});
