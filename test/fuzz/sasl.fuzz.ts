/*
 * Fuzz target: the SASL exchanges of AUTH (plugins/auth/sasl.ts). The input is
 * read as the client's lines: the first is the AUTH argument (mechanism, or
 * one picked by the first byte, and optional initial response), the others answer the 334 challenges; when they
 * run out the client cancels with "*". An exchange never throws, asks a
 * bounded number of questions, and yields credentials only from well-formed
 * base64 whose decoded octets are exactly the UTF-8 of the strings handed on
 * (RFC 4616 2: the fields are UTF-8), with PLAIN's authcid non-empty.
 */
import assert from 'node:assert/strict';
import { cramMd5, login, plain, type SaslOutcome } from '../../plugins/auth/sasl.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MECHANISMS = ['PLAIN', 'LOGIN', 'CRAM-MD5'];
const MAX_QUESTIONS: Record<string, number> = { PLAIN: 1, LOGIN: 2, 'CRAM-MD5': 1 };

/** The octets a response line carries (RFC 4954 4: "=" is an empty initial response). */
function octets(line: string): Buffer {
  const text = line.trim();
  return text === '=' ? Buffer.alloc(0) : Buffer.from(text, 'base64');
}

export async function fuzz(data: Buffer): Promise<void> {
  const lines = data.toString('utf8').split('\n');
  const command = lines.shift()!;
  const sp = command.indexOf(' ');
  const named = (sp < 0 ? command : command.slice(0, sp)).toUpperCase();
  const mechanism = MECHANISMS.includes(named) ? named : MECHANISMS[(data[0] ?? 0) % 3]!;
  const initial = sp < 0 ? undefined : command.slice(sp + 1);
  const answers: string[] = [];
  const ask = async (challenge: string): Promise<string> => {
    assert.match(challenge, BASE64, 'a challenge is base64');
    const line = lines.length > 0 ? lines.shift()! : '*';
    answers.push(line);
    return line;
  };
  const challenge = '<1896.697170952@mx.example.net>';
  let outcome: SaslOutcome;
  if (mechanism === 'PLAIN') outcome = await plain(initial, ask);
  else if (mechanism === 'LOGIN') outcome = await login(initial, ask);
  else outcome = await cramMd5(initial, ask, challenge);

  assert.ok(answers.length <= MAX_QUESTIONS[mechanism]!, `${mechanism} asked ${answers.length} times`);
  assert.ok(['credentials', 'cancelled', 'malformed'].includes(outcome.kind), outcome.kind);
  if (outcome.kind !== 'credentials') return;
  const responses = initial === undefined ? answers : [initial, ...answers];
  for (const r of responses) assert.ok(r.trim() === '=' || BASE64.test(r.trim()), `credentials from ${JSON.stringify(r)}`);
  const c = outcome.credentials;
  assert.equal(c.mechanism, mechanism);
  const password = c.password ?? '';
  if (c.mechanism === 'PLAIN') {
    assert.ok(c.username !== '' && !c.username.includes('\0') && !password.includes('\0'));
    const sent = octets(responses[0]!);
    const forms = [`\0${c.username}\0${password}`, `${c.username}\0${c.username}\0${password}`];
    assert.ok(
      forms.some((f) => Buffer.from(f, 'utf8').equals(sent)),
      `PLAIN credentials ${JSON.stringify(c)} are not the octets sent (${sent.toString('hex')})`,
    );
  } else if (c.mechanism === 'LOGIN') {
    assert.ok(Buffer.from(c.username, 'utf8').equals(octets(responses[0]!)), `LOGIN user name ${JSON.stringify(c.username)}`);
    assert.ok(Buffer.from(password, 'utf8').equals(octets(responses[1]!)), `LOGIN password ${JSON.stringify(password)}`);
  } else {
    assert.equal(c.challenge, challenge);
    assert.ok(Buffer.from(`${c.username} ${c.response}`, 'utf8').equals(octets(responses[0]!)), 'CRAM-MD5 response');
  }
}
