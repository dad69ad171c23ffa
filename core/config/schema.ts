/*
 * The core's settings: names, types, defaults and descriptions in one place
 * (like Postfix's mail_params.h). Where qmail or Postfix has a name for a
 * setting, the description says so. README "Configuration" mirrors this file.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';

/** A size in octets; YAML may say 10485760 or "10MB". */
export function Size(options: { default?: number | string; description?: string; minimum?: number } = {}) {
  return Type.Unsafe<number>({ unit: 'size', ...options });
}

/**
 * A duration in milliseconds; YAML may say 30 (seconds), "500ms", "5m" or "7d". Timeouts and
 * retry intervals are more than zero unless `zero` says 0 means something: `timeout: 0` would
 * end every session at once, `retry_base_remote: 0` retry without pause.
 */
export function Duration(options: { default?: number | string; description?: string; zero?: boolean } = {}) {
  const { zero, ...rest } = options;
  return Type.Unsafe<number>({ unit: 'duration', ...(zero ? {} : { exclusiveMinimum: 0 }), ...rest });
}

// A host name as RFC 1123 2.1 writes one: letters, digits and hyphens in dot-separated labels.
// Bounded (253 octets) so a long bad value costs little to refuse.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const HOST_NAME = `${LABEL}(?:\\.${LABEL})*`;

/** A host name (mx.example.net), as hostname, a listener's hostname and delivery.helo take. */
export function HostName(options: { description?: string } = {}) {
  return Type.String({ pattern: `^${HOST_NAME}$`, maxLength: 253, expected: 'a host name like mx.example.net', ...options });
}

/** A domain of a qmail-style list: "example.net", ".example.net" (its sub-domains) or an address literal. */
export const DOMAIN_ENTRY = `\\.?${HOST_NAME}|\\[[^\\]]+\\]`;
const DOMAIN_EXPECTED = 'a domain (example.com), a sub-domain entry (.example.com) or an address literal ([192.0.2.1])';

export const ListenerSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Name used in logs and `qgate check config`.' }),
    address: Type.String({ default: '127.0.0.1', description: 'Address to bind (127.0.0.1, ::1, 0.0.0.0, ::).' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free one (logged).' }),
    pipeline: Type.String({ description: 'Name of the pipeline (under `pipelines:`) this listener runs.' }),
    protocol: Type.Union([Type.Literal('smtp'), Type.Literal('pop3')], {
      default: 'smtp',
      description:
        '"smtp", or "pop3": a POP3 server (RFC 1939, ports 110 and 995) on the Maildirs local delivery writes; its pipeline holds the directory and TLS plugins (README "POP3").',
    }),
    hostname: Type.Optional(
      HostName({ description: 'Name in the greeting and Received header; defaults to the global hostname.' }),
    ),
    max_connections: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'Concurrent sessions (tcpserver -c, Postfix process limit); extra clients get 421.',
    }),
    max_connections_per_ip: Type.Integer({
      minimum: 1,
      default: 20,
      description: 'Concurrent sessions per client IP (smtpd_client_connection_count_limit); extra ones get 421.',
    }),
    timeout: Duration({ default: '5m', description: 'Idle time before 421 and close (smtpd_timeout; RFC 5321 4.5.3.2).' }),
    // A real client writes a command line at once (512 octets; an AUTH line 12,288, under 30 s
    // at 4 kbit/s); only a client trickling bytes to hold the connection takes minutes.
    command_deadline: Duration({
      default: '1m',
      description:
        'Time from the first byte of a command line to its end, however steadily bytes arrive (like smtpd_per_record_deadline); past it 421 4.4.2 and close.',
    }),
    // 500 bytes/s is Postfix's default: 4 kbit/s, a tenth of a GPRS link; 25 MB at that rate
    // takes 14 hours, so no real client is near it.
    min_data_rate: Type.Integer({
      minimum: 0,
      default: 500,
      description:
        'Lowest rate in bytes/s a client may send DATA at (smtpd_min_data_rate): it starts with `timeout` of credit, waiting uses it up, each byte earns 1/rate s back up to `timeout`; out of credit: 421 4.4.2 and close. 0: off.',
    }),
    max_command_line: Size({
      default: 512,
      minimum: 64,
      description: 'Longest command line incl. CRLF (RFC 5321 4.5.3.1.4); longer ones get 500, the session goes on.',
    }),
    max_text_line: Size({
      default: 65536,
      minimum: 1000,
      description:
        'Longest line in message text; a message with a longer line is refused with 554 5.6.0 (RFC 5321 4.5.3.1.6 sets 1000 as the sender minimum).',
    }),
    max_recipients: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'Recipients per message (qmail/Postfix 100); more get 452 4.5.3.',
    }),
    max_errors: Type.Integer({
      minimum: 1,
      default: 20,
      description: 'Unknown, invalid or out-of-sequence commands before 421 and close (smtpd_hard_error_limit).',
    }),
    smtpd_forbid_bare_newline: Type.Union([Type.Literal('reject'), Type.Literal('normalize')], {
      default: 'reject',
      description:
        'Bare CR or LF in DATA or a command: "reject" refuses with 550 5.5.2 and disconnects; "normalize" stores CRLF and lets commands end in LF. Either way only CRLF.CRLF ends a message (Postfix 3.9 semantics), and a CR inside a command line is refused.',
    }),
    require_helo: Type.Boolean({ default: true, description: 'MAIL before HELO/EHLO gets 503 (smtpd_helo_required).' }),
    banner: Type.String({ default: 'ESMTP qgate', description: 'Greeting text after the host name.' }),
    backlog: Type.Integer({
      minimum: 1,
      default: 511,
      description: 'Listen backlog; kept at least max_connections so bursts of connects are not dropped.',
    }),
    plaintext_login: Type.Boolean({
      default: false,
      description:
        'POP3: allow USER/PASS and AUTH PLAIN before STLS (Dovecot disable_plaintext_auth = no). false: they get -ERR [AUTH] until TLS is on.',
    }),
    max_login_failures: Type.Integer({
      minimum: 1,
      default: 5,
      description:
        'POP3: failed logins from one client address within login_failure_window before further logins get -ERR [AUTH] without a password check.',
    }),
    login_failure_window: Duration({
      default: '15m',
      description: 'POP3: how long a failed login counts against the client address.',
    }),
    max_commands: Type.Integer({
      minimum: 10,
      default: 10000,
      description: 'POP3: commands per session; past it -ERR and close (a mailbox of n messages needs about 2n).',
    }),
  },
  { additionalProperties: false },
);

export const PluginEntrySchema = Type.Object(
  {
    use: Type.String({ minLength: 1, description: 'Built-in plugin name, a path (./my-plugin.js) or an npm package.' }),
    name: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Instance name when one plugin is used twice.' }),
    ),
    with: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "The plugin's options (see its README)." })),
    timeout: Type.Optional(Duration({ description: 'Per-hook time limit for this plugin; defaults to hook_timeout.' })),
    enabled: Type.Boolean({ default: true, description: 'false keeps the entry in the file but out of the pipeline.' }),
  },
  { additionalProperties: false },
);

export const PipelineSchema = Type.Object(
  {
    description: Type.Optional(Type.String()),
    plugins: Type.Array(PluginEntrySchema, { default: [] }),
  },
  { additionalProperties: false },
);

const TlsPolicySchema = Type.Union([Type.Literal('opportunistic'), Type.Literal('required'), Type.Literal('none')]);

export const RouteSchema = Type.Object(
  {
    domain: Type.String({
      pattern: `^(\\*|${DOMAIN_ENTRY})$`,
      maxLength: 255,
      expected: `${DOMAIN_EXPECTED}, or "*" for every other domain`,
      description: '"example.net" exact, ".example.net" its sub-domains, "*" every other domain (a smarthost).',
    }),
    host: Type.String({
      // A name, an IPv4 address (which the name pattern covers) or an IPv6 address.
      pattern: `^(${HOST_NAME}|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$`,
      maxLength: 253,
      expected: 'a host name or an IP address',
      description: 'Next hop host name or address.',
    }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 25 }),
    tls: Type.Union(TlsPolicySchema.anyOf, {
      default: 'opportunistic',
      description: 'STARTTLS: opportunistic, required (defer if missing), none.',
    }),
    auth: Type.Optional(Type.Object({ user: Type.String(), pass: Type.String() }, { additionalProperties: false })),
    recipients: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Who exists behind this route (Postfix relay_recipient_maps): a file (one address per line, `@domain` for a whole domain, # comments; re-read on SIGHUP) or "directory" (ask the delivery pipeline\'s lookupUser). Others get 550 5.1.1 at RCPT. Unset: every recipient is accepted.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const DeliverySchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Run the scheduler (qmail-send). false: accepted mail stays queued.' }),
    pipeline: Type.Optional(
      Type.String({ description: 'Pipeline whose plugins serve the route, deliver, bounce and lookupUser hooks for delivery.' }),
    ),
    local_domains: Type.Array(Type.String({ pattern: `^(${DOMAIN_ENTRY})$`, maxLength: 255, expected: DOMAIN_EXPECTED }), {
      default: [],
      description: 'Domains delivered to local Maildirs (qmail locals/virtualdomains); ".example.net" covers sub-domains.',
    }),
    maildir_root: Type.String({
      default: './var/mail',
      description: 'Mailboxes live at `<root>/<domain>/<user>/Maildir` unless the directory says otherwise.',
    }),
    create_mailboxes: Type.Boolean({
      default: false,
      description: 'Create a Maildir for any local part; false: a user exists if the directory knows it or its Maildir exists.',
    }),
    aliases: Type.Optional(
      Type.String({ description: 'YAML file of aliases (qmail ~alias, Postfix aliases): name or name@domain -> address(es).' }),
    ),
    recipient_delimiter: Type.String({
      default: '-+',
      description: 'Extension delimiters: user-ext@ falls back to user@ (qmail "-", Postfix "+").',
    }),
    postmaster: Type.Optional(
      Type.String({ description: 'Where postmaster@ and abuse@ of every local domain go; default `postmaster@<hostname>`.' }),
    ),
    double_bounce: Type.Optional(
      Type.String({ description: 'Where an undeliverable bounce goes, once (qmail doublebounceto); unset: dropped.' }),
    ),
    bounce_max_bytes: Size({ default: 50000, description: 'How much of the original a bounce carries (qmail bouncemaxbytes).' }),
    queue_lifetime: Duration({ default: '7d', description: 'After this, pending recipients are bounced (qmail queuelifetime).' }),
    retry_base_local: Duration({
      default: '100s',
      description: 'Local attempt n happens at birth + n² × this (qmail: chanskip 10 s, (n × 10 s)²).',
    }),
    retry_base_remote: Duration({
      default: '400s',
      description: 'The same for remote deliveries (qmail: chanskip 20 s: 0, 6m40s, 26m40s, 1h, ...).',
    }),
    concurrency_local: Type.Integer({ minimum: 1, default: 10, description: 'Parallel local deliveries (concurrencylocal).' }),
    concurrency_remote: Type.Integer({ minimum: 1, default: 20, description: 'Parallel remote deliveries (concurrencyremote).' }),
    concurrency_per_domain: Type.Integer({
      minimum: 1,
      default: 5,
      description: 'Parallel remote deliveries to one destination.',
    }),
    routes: Type.Array(RouteSchema, {
      default: [],
      description: 'Static routes (qmail smtproutes) and relay domains with their next hop.',
    }),
    mx_port: Type.Integer({ minimum: 1, maximum: 65535, default: 25, description: 'Port for deliveries by MX.' }),
    mx_tls: Type.Union(TlsPolicySchema.anyOf, { default: 'opportunistic' }),
    dns_servers: Type.Optional(
      Type.Array(Type.String(), { description: 'Resolvers for MX lookups ("127.0.0.1:5353"); default: the system\'s.' }),
    ),
    helo: Type.Optional(HostName({ description: 'Name in our EHLO; default: hostname.' })),
    connect_timeout: Duration({ default: '30s' }),
    command_timeout: Duration({ default: '5m', description: 'Inactivity limit on a remote connection (RFC 5321 4.5.3.2).' }),
  },
  { additionalProperties: false, default: {} },
);

// The admin listener (core/admin): on by default, because an ISP scrapes every service it runs;
// loopback only by default, so nothing outside the host reaches it. Any other address needs a token.
export const AdminSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Serve /metrics, the status page and the JSON API that `qgate queue`, `reload` and `stop` use.',
    }),
    address: Type.String({
      default: '127.0.0.1',
      description: 'Address to bind; an address other than loopback requires a token.',
    }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 2580, description: 'TCP port; 0 picks a free one (logged).' }),
    token: Type.Optional(
      Type.String({ minLength: 16, description: 'Bearer token every request must carry (Authorization: Bearer ...).' }),
    ),
    token_file: Type.Optional(
      Type.String({ minLength: 1, description: 'A file holding the token (first line), relative to the config file.' }),
    ),
    token_env: Type.Optional(Type.String({ minLength: 1, description: 'An environment variable holding the token.' })),
    metrics: Type.Boolean({
      default: true,
      description: 'Count the Prometheus metrics; false serves /metrics empty and costs nothing per message.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const CoreConfigSchema = Type.Object(
  {
    hostname: Type.Optional(
      HostName({ description: 'Our host name (qmail control/me, Postfix myhostname); default: the system host name.' }),
    ),
    user: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "Started as root: after binding the listeners and opening the queue and log, run as this user (name or uid), like Postfix's mail_owner. Unset while root: qgate warns and stays root.",
      }),
    ),
    group: Type.Optional(
      Type.String({
        minLength: 1,
        description: "With `user`: the group to run as (name or gid); default: the user's primary group.",
      }),
    ),
    queue: Type.Object(
      {
        backend: Type.Literal('file', {
          default: 'file',
          description: 'Queue implementation; "file" is the durable file queue described under "The queue".',
        }),
        path: Type.String({ default: './var/queue', description: 'Queue directory, relative to the config file.' }),
        group_commit: Type.Boolean({
          default: true,
          description: 'Share one directory fsync among transactions that finish together.',
        }),
        commit_sync: Type.Union([Type.Literal('auto'), Type.Literal('directory'), Type.Literal('file')], {
          default: 'auto',
          description:
            'How a commit is made durable before its 250. "directory": the message file is flushed, then the queue directory its rename changed: two flushes in a row, durable on any POSIX file system. "file": rename, then one flush of the file, which also makes the rename durable on ext3, ext4 and XFS (the property Postfix requires for its queue). "auto": "file" when the queue is on ext3, ext4 or XFS, "directory" on anything else. See "The queue".',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'info: one line per connection and per message; debug adds directory lookups.' },
        ),
        format: Type.Union([Type.Literal('json'), Type.Literal('text')], {
          default: 'json',
          description:
            '"json": one JSON object per line, for machines; "text": one readable line per event (time, level, event, then queueId, result, client, sender, recipients, reply, ... as key=value), like a maillog.',
        }),
        file: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Append the log to this file (mode 0640, owned by `user`) instead of stdout; reopened on SIGUSR1, for logrotate.',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    delivery: DeliverySchema,
    admin: AdminSchema,
    hook_timeout: Duration({
      default: '30s',
      description: 'Default time limit for one plugin handler; past it the transaction gets 451 4.3.0.',
    }),
    shutdown_grace: Duration({
      default: '30s',
      zero: true,
      description: 'On SIGTERM, how long running transactions may take before sessions get 421.',
    }),
    listeners: Type.Array(ListenerSchema, { minItems: 1 }),
    // Each value is a file name or an inline pipeline; load.ts checks it against PipelineSchema,
    // because defaults are not applied inside a union.
    pipelines: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), Type.Union([Type.String(), Type.Object({})]), {
      additionalProperties: false,
      description: 'Pipelines by name: a file (pipelines/inbound.yaml) or an inline { plugins: [...] }.',
    }),
  },
  { additionalProperties: false },
);

export type ListenerConfig = Static<typeof ListenerSchema>;
export type PluginEntryConfig = Static<typeof PluginEntrySchema>;
export type CoreConfig = Static<typeof CoreConfigSchema>;
export type DeliveryConfig = Static<typeof DeliverySchema>;
export type AdminConfig = Static<typeof AdminSchema>;
export type PipelineConfig = Static<typeof PipelineSchema>;
export type { TSchema };
