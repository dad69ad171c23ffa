/*
 * The plugin test kit, exported as 'qgate/testing': run plugins in a real,
 * in-process pipeline (options validated, defaults filled), drive the real
 * SMTP engine over loopback with a real queue in a temporary folder, and
 * assert replies, decisions, added headers, log lines and directory answers.
 *
 *   import { testPipeline } from 'qgate/testing';
 *   const t = await testPipeline({ plugins: [{ plugin: myPlugin, with: { ... } }] });
 */
export type { LogRecord } from './log-capture.js';
export { encodeMessage, parseReply, type SmtpReply, SmtpTestClient } from './smtp-client.js';
export {
  type MailResult,
  type MailToSend,
  type QueuedMessage,
  type TestPipeline,
  type TestPipelineOptions,
  type TestPlugin,
  testPipeline,
} from './test-pipeline.js';
