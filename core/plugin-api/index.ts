/*
 * The public plugin API: everything a plugin may import, built-in or third
 * party. Built-in plugins use nothing else, which proves this is enough. A pure
 * re-export: the contract lives in core/model, core/hooks and core/pipeline.
 *
 *   import { definePlugin, Type, reject } from 'qgate';
 */

// Every TypeBox type (TObject, TString, ...), so a plugin built with `declaration: true`
// can name its options' types through 'qgate' (otherwise TS2742: "cannot be named
// without a reference to .../@sinclair/typebox"). Value checks options in tests.
export type * from '@sinclair/typebox';
export { Type } from '@sinclair/typebox';
export { Value } from '@sinclair/typebox/value';
export { compilePattern, type Pattern } from '../config/pattern.js';
export { Duration, Size } from '../config/schema.js';
export { Secret } from '../config/secret.js';
export { AnswerCache, type AnswerCacheSettings, type AnswerCacheStats } from '../directory/answer-cache.js';
export {
  CACHE_DEFAULTS,
  cacheSettings,
  DirectoryCache,
  type DirectoryCacheOption,
  DirectoryCacheSettings,
} from '../directory/cache-options.js';
export { OutageTracker } from '../directory/outage.js';
export { syncDirectory } from '../fs/sync-directory.js';
export type { HookHandler, HookName } from '../hooks/hooks.js';
export type { NoteKey } from '../hooks/notes.js';
export {
  accept,
  DirectoryUnavailable,
  disconnect,
  type HookResult,
  isUnavailable,
  next,
  reject,
  tempfail,
  type UnavailableResult,
  unavailable,
} from '../hooks/results.js';
export type * from '../hooks/types.js';
export type {
  Address,
  DeliveryOutcome,
  DeliveryResult,
  Envelope,
  EnvelopeRecipient,
  EsmtpParameters,
  HeaderField,
  Route,
  TlsPolicy,
} from '../model/index.js';
export { type AuthAttempt, DomainSet, FailureThrottle, formatReply, type Reply, reply } from '../model/index.js';
export { definePlugin, OptionError, type OptionProblem, type PluginDefinition } from '../pipeline/define.js';
export { unknownListener } from '../pipeline/gateway-info.js';
export { readOptionFile } from '../pipeline/option-files.js';
export type { Directory, PluginContext, Reloadable } from '../pipeline/plugin-context.js';
export {
  MAX_SHA_CRYPT_ROUNDS,
  type PasswordPolicy,
  type PasswordScheme,
  passwordScheme,
  verifyCramMd5,
  verifyPassword,
} from '../security/password-hash.js';
