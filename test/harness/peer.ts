/*
 * Starts test/clients/aiosmtpd_peer.py, a real SMTP server on 127.0.0.1, in
 * one of its modes, and reads back the messages it stored.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Compiled to dist/test/harness/, three levels below the repo root. */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PEER_SCRIPT = join(REPO, 'test', 'clients', 'aiosmtpd_peer.py');
/** Debian's Python: the one on PATH has no aiosmtpd. */
const PYTHON = '/usr/bin/python3';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;

export type PeerMode =
  | 'accept'
  | 'tempfail-then-accept'
  | 'reject-rcpt'
  | 'reject-data'
  | 'drop-mid-data'
  | 'greet-421'
  | 'starttls'
  | 'auth'
  | 'one-message-421'
  | 'one-message-drop';

export interface PeerOptions {
  /** The peer hangs up on a client that has been silent this long (aiosmtpd's default is 300 s). */
  readonly idleTimeoutMs?: number;
}

export interface Peer {
  readonly port: number;
  /** Directory the peer stores accepted messages in. */
  readonly store: string;
  /** Everything the peer logged so far, for assertion messages. */
  log(): string;
  /** Terminates the peer, waits for it to exit and removes its store. */
  stop(): Promise<void>;
}

/** One message as the peer stored it. */
export interface StoredMessage {
  readonly name: string;
  /** Number of the connection it arrived on, counted from 1 in the order the peer accepted them. */
  readonly session: number;
  readonly data: Buffer;
  readonly mailFrom: string;
  readonly mailOptions: readonly string[];
  readonly rcptTos: readonly string[];
  readonly helo: string | null;
  readonly tls: boolean;
  readonly auth: string | null;
}

interface Sidecar {
  session: number;
  mail_from: string;
  mail_options: string[];
  rcpt_tos: string[];
  helo: string | null;
  tls: boolean;
  auth: string | null;
}

export async function startPeer(mode: PeerMode, options: PeerOptions = {}): Promise<Peer> {
  const store = await mkdtemp(join(tmpdir(), `qgate-peer-${mode}-`));
  // The peer exits when its stdin closes, so a test process that dies takes it along.
  const args = [PEER_SCRIPT, '--port', '0', '--mode', mode, '--store', store, '--stop-on-stdin-eof'];
  if (options.idleTimeoutMs !== undefined) args.push('--idle-timeout', String(options.idleTimeoutMs / 1000));
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let port: number;
  try {
    port = await portLine(child, () => stderr);
  } catch (err) {
    await kill(child, exited);
    await rm(store, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    store,
    log: () => stderr,
    stop: async () => {
      await kill(child, exited);
      await rm(store, { recursive: true, force: true });
    },
  };
}

/** Waits for the `{"port": N}` line the peer prints once it listens. */
function portLine(child: ChildProcess, stderr: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let buffered = '';
    const fail = (why: string) => {
      cleanup();
      reject(new Error(`aiosmtpd peer ${why}:\n${stderr()}`));
    };
    const onData = (text: string) => {
      buffered += text;
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      cleanup();
      try {
        const { port } = JSON.parse(buffered.slice(0, nl)) as { port: number };
        resolve(port);
      } catch {
        reject(new Error(`aiosmtpd peer printed ${JSON.stringify(buffered)}:\n${stderr()}`));
      }
    };
    const onExit = (code: number | null) => fail(`exited with ${code} before listening`);
    const onError = (err: Error) => fail(`could not start: ${err.message}`);
    const timer = setTimeout(() => fail('did not report its port in time'), START_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  child.stdin?.destroy();
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS);
  });
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/** The messages in a peer's store, oldest first. */
export async function storedMessages(store: string): Promise<StoredMessage[]> {
  const names = (await readdir(store))
    .filter((f) => f.endsWith('.eml'))
    .map((f) => f.slice(0, -'.eml'.length))
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sidecar = JSON.parse(await readFile(join(store, `${name}.json`), 'utf8')) as Sidecar;
      return {
        name,
        session: sidecar.session,
        data: await readFile(join(store, `${name}.eml`)),
        mailFrom: sidecar.mail_from,
        mailOptions: sidecar.mail_options,
        rcptTos: sidecar.rcpt_tos,
        helo: sidecar.helo,
        tls: sidecar.tls,
        auth: sidecar.auth,
      };
    }),
  );
}
